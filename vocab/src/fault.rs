//! The fault vocabulary: which faults exist ([`FaultKind`]), which may
//! share a window ([`FaultSet`]), and a fault with every choice drawn
//! ([`FaultPlan`]), aimed by [`Victims`] or cut along a [`Topology`].
//! Planning (the seeded schedule) lives in the workloads crate; applying
//! in the harness; these types are what both of them, the history and
//! `run.json` speak.

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Partition,
    Kill,
    Pause,
    Clock,
    Packet,
    /// Stall a client that holds a lock (keep-alives included) past its lease.
    ClientPause,
    /// Fill the filesystem under the service's data directory.
    Disk,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Packet,
        FaultKind::ClientPause,
        FaultKind::Disk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::Packet => "packet",
            FaultKind::ClientPause => "client-pause",
            FaultKind::Disk => "disk",
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown nemesis {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Faults applied together in one window, written `clock+client-pause`:
/// each is drawn as if alone, in the order given; they start in that order
/// and are undone in reverse, so the order says which heal comes first
/// (`partition+clock`: the clock heals while the partition still holds). A
/// single kind is the usual case.
///
/// Kinds that work the same machinery cannot share a window: `partition`
/// and `packet` both rewrite the nodes' iptables rules, and `kill` and
/// `pause` both act on the one service process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FaultSet(Vec<FaultKind>);

/// Pairs of kinds that cannot share a window, and why.
const CLASHES: [(FaultKind, FaultKind, &str); 2] = [
    (
        FaultKind::Partition,
        FaultKind::Packet,
        "both rewrite the nodes' iptables rules",
    ),
    (
        FaultKind::Kill,
        FaultKind::Pause,
        "both act on the one service process",
    ),
];

impl FaultSet {
    pub fn single(kind: FaultKind) -> FaultSet {
        FaultSet(vec![kind])
    }

    /// The kinds, in the order they start.
    pub fn kinds(&self) -> &[FaultKind] {
        &self.0
    }

    pub fn contains(&self, kind: FaultKind) -> bool {
        self.0.contains(&kind)
    }
}

impl std::str::FromStr for FaultSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut kinds: Vec<FaultKind> = Vec::new();
        for part in s.split('+').map(str::trim) {
            if part.is_empty() {
                return Err(format!(
                    "empty fault in {s:?}; expected e.g. clock+client-pause"
                ));
            }
            let kind: FaultKind = part.parse()?;
            if kinds.contains(&kind) {
                return Err(format!("{kind} appears twice in {s:?}"));
            }
            kinds.push(kind);
        }
        for (a, b, why) in CLASHES {
            if kinds.contains(&a) && kinds.contains(&b) {
                return Err(format!("{a} and {b} cannot share a window in {s:?}: {why}"));
            }
        }
        Ok(FaultSet(kinds))
    }
}

impl std::fmt::Display for FaultSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.as_str()).collect();
        f.write_str(&names.join("+"))
    }
}

impl TryFrom<String> for FaultSet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<FaultSet> for String {
    fn from(set: FaultSet) -> String {
        set.to_string()
    }
}

/// Which nodes a node fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Victims {
    One,
    Minority,
    Majority,
    All,
    /// Whatever the target reports as primary or leader at that moment.
    Primaries,
}

/// How the network is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Isolate one node from the rest.
    One,
    /// A majority and a minority side.
    Majority,
    RandomHalves,
    /// Two halves that both see one bridge node.
    Bridge,
    /// Every node sees a majority, no two the same.
    MajoritiesRing,
    /// Isolate the target's primaries.
    Primaries,
    /// Cut some nodes off from the clients (the controller) only.
    Clients,
}

/// Parses a kebab-case name the way the history and `run.json` spell it.
fn parse_kebab<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &str,
    expected: &str,
) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown {what} {s:?}; expected {expected}"))
}

/// The kebab-case name the history and `run.json` use.
fn kebab_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("a unit variant serializes to its name"),
    }
}

impl std::fmt::Display for Victims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&kebab_name(self))
    }
}

impl std::fmt::Display for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&kebab_name(self))
    }
}

impl std::str::FromStr for Victims {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_kebab(s, "victims", "one, minority, majority, all or primaries")
    }
}

impl std::str::FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_kebab(
            s,
            "topology",
            "one, majority, random-halves, bridge, majorities-ring, primaries or clients",
        )
    }
}

/// `bump:MS` (signed), `strobe:MS:PERIOD_MS` or `rate:FACTOR`.
impl std::str::FromStr for ClockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("bad clock fault {s:?}; expected bump:MS, strobe:MS:PERIOD_MS or rate:FACTOR")
        };
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["bump", ms] => Ok(ClockMode::Bump {
                delta_ms: ms.trim_start_matches('+').parse().map_err(|_| bad())?,
            }),
            ["strobe", ms, period] => Ok(ClockMode::Strobe {
                delta_ms: ms.trim_start_matches('+').parse().map_err(|_| bad())?,
                period_ms: period.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?,
            }),
            ["rate", factor] => {
                let rate: f64 = factor.parse().map_err(|_| bad())?;
                if rate.is_finite() && rate > 0.0 {
                    Ok(ClockMode::Rate { rate })
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }
}

impl Topology {
    /// The smallest cluster on which this cut means something.
    pub fn min_nodes(self) -> usize {
        match self {
            Topology::Clients => 1,
            Topology::One | Topology::RandomHalves | Topology::Primaries => 2,
            Topology::Majority | Topology::Bridge => 3,
            Topology::MajoritiesRing => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum ClockMode {
    /// Step CLOCK_REALTIME by `delta_ms` (negative goes back).
    Bump { delta_ms: i64 },
    /// Oscillate CLOCK_REALTIME between +0 and `delta_ms` every `period_ms`.
    Strobe { delta_ms: i64, period_ms: u64 },
    /// Run the clocks at `rate` times real speed (monotonic included).
    Rate { rate: f64 },
}

/// One fault, with everything needed to apply it. `seed` resolves the
/// remaining choices (which node is "one") against the live cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum FaultPlan {
    Partition {
        topology: Topology,
        seed: u64,
    },
    Kill {
        victims: Victims,
        seed: u64,
    },
    Pause {
        victims: Victims,
        seed: u64,
    },
    Clock {
        victims: Victims,
        clock: ClockMode,
        seed: u64,
    },
    Packet {
        victims: Victims,
        delay_ms: u64,
        jitter_ms: u64,
        loss_pct: f64,
        seed: u64,
    },
    ClientPause {
        pause_ms: u64,
        seed: u64,
    },
    Disk {
        victims: Victims,
        seed: u64,
    },
}

impl FaultPlan {
    /// Draws a `kind` fault's parameters from `rng`, pins replacing draws
    /// (the draws still happen, so a seed's other choices stay the same).
    pub fn draw<R: Rng + ?Sized>(kind: FaultKind, cfg: &DrawContext, rng: &mut R) -> FaultPlan {
        let seed = rng.random();
        match kind {
            FaultKind::Partition => FaultPlan::Partition {
                topology: draw_topology(cfg, rng),
                seed,
            },
            FaultKind::Kill => FaultPlan::Kill {
                victims: draw_victims(cfg, rng),
                seed,
            },
            FaultKind::Pause => FaultPlan::Pause {
                victims: draw_victims(cfg, rng),
                seed,
            },
            FaultKind::Clock => {
                let clock = draw_clock(cfg, rng);
                FaultPlan::Clock {
                    victims: draw_victims(cfg, rng),
                    clock,
                    seed,
                }
            }
            FaultKind::Packet => FaultPlan::Packet {
                victims: draw_victims(cfg, rng),
                delay_ms: rng.random_range(50..=500),
                jitter_ms: rng.random_range(0..=50),
                loss_pct: [0.0, 5.0, 20.0][rng.random_range(0..3)],
                seed,
            },
            FaultKind::ClientPause => FaultPlan::ClientPause {
                // Long enough that the lease surely expires and someone else is granted it.
                pause_ms: cfg.lease_ms * 2 + rng.random_range(0..=cfg.lease_ms),
                seed,
            },
            FaultKind::Disk => FaultPlan::Disk {
                victims: draw_victims(cfg, rng),
                seed,
            },
        }
    }

    pub fn kind(&self) -> FaultKind {
        match self {
            FaultPlan::Partition { .. } => FaultKind::Partition,
            FaultPlan::Kill { .. } => FaultKind::Kill,
            FaultPlan::Pause { .. } => FaultKind::Pause,
            FaultPlan::Clock { .. } => FaultKind::Clock,
            FaultPlan::Packet { .. } => FaultKind::Packet,
            FaultPlan::ClientPause { .. } => FaultKind::ClientPause,
            FaultPlan::Disk { .. } => FaultKind::Disk,
        }
    }

    /// Whom a fault that hits nodes one by one aims at, and the seed that
    /// resolves them; `None` for faults that cut or stall instead.
    pub fn node_victims(&self) -> Option<(Victims, u64)> {
        match *self {
            FaultPlan::Kill { victims, seed }
            | FaultPlan::Pause { victims, seed }
            | FaultPlan::Disk { victims, seed }
            | FaultPlan::Clock { victims, seed, .. }
            | FaultPlan::Packet { victims, seed, .. } => Some((victims, seed)),
            FaultPlan::Partition { .. } | FaultPlan::ClientPause { .. } => None,
        }
    }
}

fn draw_victims<R: Rng + ?Sized>(cfg: &DrawContext, rng: &mut R) -> Victims {
    let mut choices = vec![
        Victims::One,
        Victims::Minority,
        Victims::Majority,
        Victims::All,
    ];
    if cfg.primaries_available {
        choices.push(Victims::Primaries);
    }
    let drawn = choices[rng.random_range(0..choices.len())];
    cfg.pins.victims.unwrap_or(drawn)
}

fn draw_topology<R: Rng + ?Sized>(cfg: &DrawContext, rng: &mut R) -> Topology {
    let mut choices = vec![
        Topology::One,
        Topology::Majority,
        Topology::RandomHalves,
        Topology::Bridge,
        Topology::MajoritiesRing,
        Topology::Clients,
    ];
    if cfg.primaries_available {
        choices.push(Topology::Primaries);
    }
    choices.retain(|t| t.min_nodes() <= cfg.nodes);
    let drawn = choices[rng.random_range(0..choices.len())];
    cfg.pins.topology.unwrap_or(drawn)
}

/// Past the lease in either direction, so lease expiry is at stake.
fn draw_clock<R: Rng + ?Sized>(cfg: &DrawContext, rng: &mut R) -> ClockMode {
    let magnitude_ms = (cfg.lease_ms * rng.random_range(2..=10)) as i64;
    let clock = match rng.random_range(0..3) {
        0 => ClockMode::Bump {
            delta_ms: if rng.random_bool(0.75) {
                magnitude_ms
            } else {
                -magnitude_ms
            },
        },
        1 => ClockMode::Strobe {
            delta_ms: magnitude_ms,
            period_ms: rng.random_range(10..=200),
        },
        _ => ClockMode::Rate {
            rate: [0.5, 2.0, 4.0][rng.random_range(0..3)],
        },
    };
    cfg.pins.clock.unwrap_or(clock)
}

/// What drawing a fault's parameters depends on besides the seed.
#[derive(Debug, Clone, Copy)]
pub struct DrawContext<'a> {
    /// Clock skews and client pauses are drawn past the lease.
    pub lease_ms: u64,
    /// Cluster size: partitions that need more nodes are not drawn.
    pub nodes: usize,
    /// The target can name its primaries, so they may be aimed at.
    pub primaries_available: bool,
    /// Choices fixed by the user instead of drawn.
    pub pins: &'a Pins,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Milliseconds after the main phase starts.
    pub start_ms: u64,
    pub stop_ms: u64,
    pub plan: FaultPlan,
    /// The rest of a [`FaultSet`]: faults started after `plan` in the same
    /// window and undone before it. Absent for a single fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub with: Vec<FaultPlan>,
}

impl ScheduledFault {
    /// Every fault of the window, in the order they start.
    pub fn plans(&self) -> impl Iterator<Item = &FaultPlan> {
        std::iter::once(&self.plan).chain(&self.with)
    }
}

/// Fault parameters the user fixed (`--victims`, `--topology`, `--clock`),
/// to aim a campaign at one scenario. Draws still happen, so a seed's other
/// choices stay the same with or without pins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pins {
    pub victims: Option<Victims>,
    pub topology: Option<Topology>,
    pub clock: Option<ClockMode>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_parameters_parse_from_the_command_line() {
        assert_eq!(
            "bump:+20000".parse::<ClockMode>(),
            Ok(ClockMode::Bump { delta_ms: 20_000 })
        );
        assert_eq!(
            "bump:-500".parse::<ClockMode>(),
            Ok(ClockMode::Bump { delta_ms: -500 })
        );
        assert_eq!(
            "strobe:5000:100".parse::<ClockMode>(),
            Ok(ClockMode::Strobe {
                delta_ms: 5000,
                period_ms: 100
            })
        );
        assert_eq!(
            "rate:2".parse::<ClockMode>(),
            Ok(ClockMode::Rate { rate: 2.0 })
        );
        assert!("rate:-1".parse::<ClockMode>().is_err());
        assert!("warp:9"
            .parse::<ClockMode>()
            .unwrap_err()
            .contains("bump:MS"));
        assert_eq!("majority".parse::<Victims>(), Ok(Victims::Majority));
        assert_eq!(
            "random-halves".parse::<Topology>(),
            Ok(Topology::RandomHalves)
        );
        assert!("half"
            .parse::<Topology>()
            .unwrap_err()
            .contains("random-halves"));
    }

    #[test]
    fn nemesis_names_parse_and_bad_ones_are_explained() {
        assert_eq!(
            "client-pause".parse::<FaultKind>(),
            Ok(FaultKind::ClientPause)
        );
        let err = "partitoin".parse::<FaultKind>().unwrap_err();
        assert!(err.contains("partitoin") && err.contains("partition"));
    }

    #[test]
    fn fault_sets_parse_and_refuse_clashes_repeats_and_gaps() {
        let set: FaultSet = "clock+client-pause".parse().unwrap();
        assert_eq!(set.kinds(), [FaultKind::Clock, FaultKind::ClientPause]);
        assert_eq!(set.to_string(), "clock+client-pause");
        assert_eq!(serde_json::to_value(&set).unwrap(), "clock+client-pause");
        let back: FaultSet = serde_json::from_value(serde_json::json!("kill")).unwrap();
        assert_eq!(back, FaultSet::single(FaultKind::Kill));
        let err = "kill+pause".parse::<FaultSet>().unwrap_err();
        assert!(err.contains("service process"), "{err}");
        let err = "packet+partition".parse::<FaultSet>().unwrap_err();
        assert!(err.contains("iptables"), "{err}");
        assert!("clock+clock"
            .parse::<FaultSet>()
            .unwrap_err()
            .contains("twice"));
        assert!("clock+".parse::<FaultSet>().unwrap_err().contains("empty"));
        assert!("clock+warp"
            .parse::<FaultSet>()
            .unwrap_err()
            .contains("warp"));
    }
}
