//! Choosing a /24 for a run's bridge network that overlaps no existing one.
//!
//! Runs may go on side by side (parallel tests, several users), so the
//! candidate list starts at a point derived from the run id and walks
//! forward; the engine still has the last word (it refuses overlapping
//! pools), and the caller retries on the next candidate.

use std::net::Ipv4Addr;

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Net {
    /// Parse "a.b.c.d/len"; `None` for anything else (IPv6 pools included,
    /// which cannot overlap an IPv4 candidate).
    pub fn parse(s: &str) -> Option<Ipv4Net> {
        let (addr, len) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix_len: u8 = len.parse().ok()?;
        (prefix_len <= 32).then_some(Ipv4Net { addr, prefix_len })
    }

    fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        }
    }

    pub fn network(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        // Two CIDR blocks overlap exactly when one contains the other's
        // network address under the shorter of the two masks.
        let shorter = if self.prefix_len < other.prefix_len {
            self.mask()
        } else {
            other.mask()
        };
        (u32::from(self.addr) & shorter) == (u32::from(other.addr) & shorter)
    }

    /// The address `host` within this network (host 1 is the gateway).
    pub fn host(&self, host: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.network() | host)
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network()), self.prefix_len)
    }
}

/// The second octet of the candidate range 10.213.0.0/16: chosen because
/// Docker's default pools are 172.17-31.0.0/16 and 192.168.0.0/16, and it is
/// an unusual corner of 10/8 for a LAN.
const CANDIDATE_SECOND_OCTET: u8 = 213;

/// Candidate /24s in 10.213.0.0/16, starting at an offset derived from
/// `seed` and skipping any that overlap `taken`.
pub fn candidates(seed: u64, taken: &[Ipv4Net]) -> Vec<Ipv4Net> {
    (0..256u64)
        .map(|i| ((seed + i) % 256) as u8)
        .map(|third| Ipv4Net {
            addr: Ipv4Addr::new(10, CANDIDATE_SECOND_OCTET, third, 0),
            prefix_len: 24,
        })
        .filter(|c| !taken.iter().any(|t| t.overlaps(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_blocks_are_detected_both_ways() {
        let wide = Ipv4Net::parse("10.0.0.0/8").unwrap();
        let narrow = Ipv4Net::parse("10.213.7.0/24").unwrap();
        let other = Ipv4Net::parse("172.17.0.0/16").unwrap();
        assert!(wide.overlaps(&narrow));
        assert!(narrow.overlaps(&wide));
        assert!(!narrow.overlaps(&other));
    }

    #[test]
    fn candidates_skip_taken_subnets_and_start_at_the_seed() {
        let taken = [Ipv4Net::parse("10.213.5.0/24").unwrap()];
        let c = candidates(5, &taken);
        assert_eq!(c[0].to_string(), "10.213.6.0/24");
        assert_eq!(c.len(), 255);
        assert!(candidates(0, &[Ipv4Net::parse("10.0.0.0/8").unwrap()]).is_empty());
    }

    #[test]
    fn hosts_are_numbered_within_the_network() {
        let n = Ipv4Net::parse("10.213.9.0/24").unwrap();
        assert_eq!(n.host(1), Ipv4Addr::new(10, 213, 9, 1));
        assert_eq!(n.host(11), Ipv4Addr::new(10, 213, 9, 11));
    }

    #[test]
    fn garbage_and_ipv6_are_not_parsed() {
        assert!(Ipv4Net::parse("fd00::/64").is_none());
        assert!(Ipv4Net::parse("10.0.0.0").is_none());
        assert!(Ipv4Net::parse("10.0.0.0/33").is_none());
    }
}
