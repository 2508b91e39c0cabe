//! The service's modes: `safe` and one planted bug per other mode.

use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Tokens persisted with fsync before a grant is acknowledged, leases on
    /// the monotonic clock, resource fenced by the current holder's token.
    Safe,
    /// The resource accepts any token.
    NoFencing,
    /// The token counter lives only in memory: a restart starts it over.
    VolatileTokens,
    /// Leases expire by the wall clock, which a clock step moves.
    WallclockLease,
    /// n1 primary, n2 backup; replication after the reply; the backup takes
    /// over when it has not heard the primary for a timeout.
    AsyncReplica,
    /// The highest-id node a node can reach is the leader: no quorum.
    Bully,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Safe => "safe",
            Mode::NoFencing => "no-fencing",
            Mode::VolatileTokens => "volatile-tokens",
            Mode::WallclockLease => "wallclock-lease",
            Mode::AsyncReplica => "async-replica",
            Mode::Bully => "bully",
        }
    }

    /// Whether the role of serving node moves between nodes at run time.
    pub fn is_replicated(self) -> bool {
        matches!(self, Mode::AsyncReplica | Mode::Bully)
    }

    pub fn fences(self) -> bool {
        self != Mode::NoFencing
    }

    pub fn persists_tokens(self) -> bool {
        self != Mode::VolatileTokens
    }

    /// `safe` holds leases long enough for a clock running up to 4 times
    /// fast (the harness's fastest clock-rate fault); a real service would
    /// take its vendor's drift bound. The bug modes assume a true clock.
    pub fn default_clock_rate_bound(self) -> f64 {
        match self {
            Mode::Safe => 4.0,
            _ => 1.0,
        }
    }

    pub fn lease_clock(self) -> LeaseClock {
        match self {
            Mode::WallclockLease => LeaseClock::Wall,
            _ => LeaseClock::Monotonic,
        }
    }
}

/// Which clock times leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseClock {
    /// `CLOCK_MONOTONIC`: a wall-clock step does not move it.
    Monotonic,
    /// `CLOCK_REALTIME`: what the clock shim skews.
    Wall,
}

/// When a lease ends, on the clock its mode times it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Monotonic(Instant),
    Wall(SystemTime),
}

impl LeaseClock {
    pub fn deadline(self, lease_ms: u64) -> Expiry {
        let lease = Duration::from_millis(lease_ms);
        match self {
            LeaseClock::Monotonic => Expiry::Monotonic(Instant::now() + lease),
            LeaseClock::Wall => Expiry::Wall(SystemTime::now() + lease),
        }
    }
}

impl Expiry {
    /// Time left, zero once expired.
    pub fn remaining(&self) -> Duration {
        match self {
            Expiry::Monotonic(at) => at.saturating_duration_since(Instant::now()),
            Expiry::Wall(at) => at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        }
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }
}
