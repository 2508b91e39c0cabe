//! Seeded fault schedules: which fault starts when, on what, and when it heals.
//!
//! The schedule alternates quiet windows and fault windows, one fault at a
//! time so that every anomaly can be pinned on the fault that was active:
//!
//! ```text
//! 0s        10s        20s        30s        40s   … time limit │ heal │ recovery
//! │  quiet  │ partition │  quiet   │  pause   │  …              │  all │  quiet
//! ```
//!
//! unless the user asks for faults together: a [`FaultSet`] such as
//! `clock+client-pause` puts both in the same window (each drawn as if
//! alone), for anomalies that need two things wrong at once, such as a
//! holder stalled while the leader's clock runs fast.
//!
//! Every choice (fault kind, topology, victims, magnitudes) is drawn from the
//! run seed, so one seed reproduces the schedule.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use splitbrain_vocab::fault::DrawContext;
use splitbrain_vocab::{FaultPlan, FaultSet, Pins, ScheduledFault};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleConfig {
    /// Fault sets to draw from, one per window; empty means no faults.
    pub faults: Vec<FaultSet>,
    /// Length of each quiet window and each fault window.
    pub interval_ms: u64,
    /// The main phase's length; no fault starts after it.
    pub duration_ms: u64,
    pub lease_ms: u64,
    /// Cluster size: partitions that need more nodes are not drawn.
    pub nodes: usize,
    /// Topologies the target supports beyond the generic ones.
    pub primaries_available: bool,
    /// Choices fixed by the user instead of drawn from the seed.
    #[serde(default)]
    pub pins: Pins,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSchedule {
    pub faults: Vec<ScheduledFault>,
}

impl FaultSchedule {
    pub fn generate(cfg: &ScheduleConfig) -> FaultSchedule {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5EED_FA17);
        let mut faults = Vec::new();
        if cfg.faults.is_empty() || cfg.interval_ms == 0 {
            return FaultSchedule { faults };
        }
        let draw = DrawContext {
            lease_ms: cfg.lease_ms,
            nodes: cfg.nodes,
            primaries_available: cfg.primaries_available,
            pins: &cfg.pins,
        };
        let mut t = cfg.interval_ms;
        while t + cfg.interval_ms <= cfg.duration_ms {
            // A single kind draws exactly what it drew before sets existed,
            // so old seeds reproduce old schedules.
            let set = &cfg.faults[rng.random_range(0..cfg.faults.len())];
            let mut plans = set
                .kinds()
                .iter()
                .map(|&kind| FaultPlan::draw(kind, &draw, &mut rng));
            let plan = plans.next().expect("a fault set is never empty");
            let with = plans.collect();
            faults.push(ScheduledFault {
                start_ms: t,
                stop_ms: t + cfg.interval_ms,
                plan,
                with,
            });
            t += 2 * cfg.interval_ms;
        }
        FaultSchedule { faults }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain_vocab::{ClockMode, FaultKind, Topology, Victims};

    fn cfg(faults: Vec<FaultKind>) -> ScheduleConfig {
        ScheduleConfig {
            faults: faults.into_iter().map(FaultSet::single).collect(),
            interval_ms: 5_000,
            duration_ms: 60_000,
            lease_ms: 2_000,
            nodes: 5,
            primaries_available: false,
            pins: Pins::default(),
            seed: 7,
        }
    }

    #[test]
    fn one_seed_reproduces_the_schedule() {
        let c = cfg(FaultKind::ALL.to_vec());
        assert_eq!(FaultSchedule::generate(&c), FaultSchedule::generate(&c));
        let mut other = c.clone();
        other.seed = 8;
        assert_ne!(FaultSchedule::generate(&c), FaultSchedule::generate(&other));
    }

    #[test]
    fn faults_alternate_with_quiet_windows_and_end_within_the_main_phase() {
        let s = FaultSchedule::generate(&cfg(vec![FaultKind::Partition, FaultKind::Kill]));
        assert_eq!(s.faults.len(), 6);
        for w in s.faults.windows(2) {
            assert!(w[1].start_ms >= w[0].stop_ms + 5_000);
        }
        assert!(s
            .faults
            .iter()
            .all(|f| f.stop_ms <= 60_000 && f.start_ms >= 5_000));
    }

    #[test]
    fn only_requested_faults_are_scheduled() {
        let s = FaultSchedule::generate(&cfg(vec![FaultKind::ClientPause]));
        assert!(s
            .faults
            .iter()
            .all(|f| f.plan.kind() == FaultKind::ClientPause));
        assert!(FaultSchedule::generate(&cfg(vec![])).faults.is_empty());
    }

    #[test]
    fn primaries_are_chosen_only_where_the_target_has_them() {
        let s = FaultSchedule::generate(&ScheduleConfig {
            duration_ms: 2_000_000,
            ..cfg(vec![FaultKind::Partition, FaultKind::Kill])
        });
        assert!(s.faults.iter().all(|f| !matches!(
            f.plan,
            FaultPlan::Partition {
                topology: Topology::Primaries,
                ..
            } | FaultPlan::Kill {
                victims: Victims::Primaries,
                ..
            }
        )));
    }

    #[test]
    fn partitions_fit_the_cluster_size() {
        for nodes in 1..=5 {
            let s = FaultSchedule::generate(&ScheduleConfig {
                nodes,
                duration_ms: 2_000_000,
                ..cfg(vec![FaultKind::Partition])
            });
            for f in &s.faults {
                let FaultPlan::Partition { topology, .. } = f.plan else {
                    unreachable!()
                };
                assert!(
                    topology.min_nodes() <= nodes,
                    "{topology:?} on {nodes} nodes"
                );
            }
        }
    }

    #[test]
    fn pinned_choices_replace_draws_and_keep_the_rest_of_the_seed() {
        let base = cfg(vec![FaultKind::Clock, FaultKind::Partition]);
        let pinned = ScheduleConfig {
            pins: Pins {
                victims: Some(Victims::Majority),
                topology: Some(Topology::Primaries),
                clock: Some(ClockMode::Bump { delta_ms: 30_000 }),
            },
            ..base.clone()
        };
        let (a, b) = (
            FaultSchedule::generate(&base),
            FaultSchedule::generate(&pinned),
        );
        assert_eq!(a.faults.len(), b.faults.len());
        for (x, y) in a.faults.iter().zip(&b.faults) {
            assert_eq!(
                x.plan.kind(),
                y.plan.kind(),
                "pins must not change which faults run"
            );
            match &y.plan {
                FaultPlan::Clock { victims, clock, .. } => {
                    assert_eq!(*victims, Victims::Majority);
                    assert_eq!(*clock, ClockMode::Bump { delta_ms: 30_000 });
                }
                FaultPlan::Partition { topology, .. } => assert_eq!(*topology, Topology::Primaries),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn client_pauses_outlast_the_lease() {
        let s = FaultSchedule::generate(&cfg(vec![FaultKind::ClientPause]));
        for f in &s.faults {
            let FaultPlan::ClientPause { pause_ms, .. } = f.plan else {
                unreachable!()
            };
            assert!(pause_ms > 2 * 2_000);
        }
    }

    fn sets(text: &str) -> Vec<FaultSet> {
        text.split(',').map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn a_fault_set_puts_its_faults_in_one_window_in_order() {
        let c = ScheduleConfig {
            faults: sets("clock+client-pause"),
            ..cfg(vec![])
        };
        let s = FaultSchedule::generate(&c);
        assert_eq!(s.faults.len(), 6);
        for f in &s.faults {
            let kinds: Vec<FaultKind> = f.plans().map(FaultPlan::kind).collect();
            assert_eq!(kinds, [FaultKind::Clock, FaultKind::ClientPause]);
        }
        let json = serde_json::to_value(&s.faults[0]).unwrap();
        assert_eq!(json["with"][0]["fault"], "client-pause", "{json}");
    }

    #[test]
    fn single_faults_draw_what_they_drew_before_sets_existed() {
        // Seed 7 drawing from partition, kill and clock, as generated before
        // fault sets existed: old seeds keep their schedules, with no `with`.
        let golden = r#"{"faults":[{"start_ms":5000,"stop_ms":10000,"plan":{"fault":"clock","victims":"majority","clock":{"mode":"bump","delta_ms":8000},"seed":4757732846733683953}},{"start_ms":15000,"stop_ms":20000,"plan":{"fault":"kill","victims":"majority","seed":5049211396039335803}},{"start_ms":25000,"stop_ms":30000,"plan":{"fault":"clock","victims":"one","clock":{"mode":"strobe","delta_ms":18000,"period_ms":14},"seed":2759925562313074594}},{"start_ms":35000,"stop_ms":40000,"plan":{"fault":"kill","victims":"minority","seed":2181041200238348140}},{"start_ms":45000,"stop_ms":50000,"plan":{"fault":"partition","topology":"clients","seed":8588044916339198806}},{"start_ms":55000,"stop_ms":60000,"plan":{"fault":"kill","victims":"minority","seed":7475733439455369681}}]}"#;
        let s = FaultSchedule::generate(&ScheduleConfig {
            faults: sets("partition,kill,clock"),
            ..cfg(vec![])
        });
        assert_eq!(serde_json::to_string(&s).unwrap(), golden);
        let parsed: FaultSchedule = serde_json::from_str(golden).unwrap();
        assert_eq!(parsed, s);
    }
}
