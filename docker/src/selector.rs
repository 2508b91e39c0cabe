//! Which nodes a kill or pause fault hits, as a pure seeded choice.

use rand::seq::SliceRandom;
use rand::Rng;

/// A rule for choosing nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSelector {
    /// One random node.
    One,
    /// A random strict minority: between 1 and ⌈n/2⌉-1 nodes (1 when the
    /// cluster is too small to have a strict minority, so the fault still
    /// does something).
    Minority,
    /// A random strict majority: ⌊n/2⌋+1 nodes.
    Majority,
    /// Every node.
    All,
    /// The nodes the target names as primaries (leaders, masters).
    Primaries,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "failed to parse node selector {0:?}: expected one, minority, majority, all or primaries"
    )]
    Unknown(String),
    #[error("failed to select nodes: the cluster has none")]
    NoNodes,
}

impl std::str::FromStr for NodeSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "one" => NodeSelector::One,
            "minority" => NodeSelector::Minority,
            "majority" => NodeSelector::Majority,
            "all" => NodeSelector::All,
            "primaries" => NodeSelector::Primaries,
            other => return Err(SelectorError::Unknown(other.to_string())),
        })
    }
}

impl std::fmt::Display for NodeSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeSelector::One => "one",
            NodeSelector::Minority => "minority",
            NodeSelector::Majority => "majority",
            NodeSelector::All => "all",
            NodeSelector::Primaries => "primaries",
        })
    }
}

impl NodeSelector {
    /// The chosen node names, in the order of `nodes`. `primaries` is only
    /// read by [`NodeSelector::Primaries`]; names in it that are not nodes
    /// are ignored, and an empty result is the caller's to record (a target
    /// with no primary at that moment).
    pub fn resolve<R: Rng + ?Sized>(
        self,
        nodes: &[String],
        primaries: &[String],
        rng: &mut R,
    ) -> Result<Vec<String>, SelectorError> {
        if nodes.is_empty() {
            return Err(SelectorError::NoNodes);
        }
        let n = nodes.len();
        let count = match self {
            NodeSelector::One => 1,
            NodeSelector::Minority => {
                let max = n.div_ceil(2).saturating_sub(1).max(1);
                rng.random_range(1..=max)
            }
            NodeSelector::Majority => n / 2 + 1,
            NodeSelector::All => n,
            NodeSelector::Primaries => {
                return Ok(nodes
                    .iter()
                    .filter(|x| primaries.contains(x))
                    .cloned()
                    .collect())
            }
        };
        let mut picked: Vec<&String> = nodes.iter().collect();
        picked.shuffle(rng);
        picked.truncate(count);
        Ok(nodes
            .iter()
            .filter(|x| picked.contains(x))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn sizes_follow_the_selector() {
        let ns = nodes(5);
        for seed in 0..50 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            assert_eq!(
                NodeSelector::One.resolve(&ns, &[], &mut rng).unwrap().len(),
                1
            );
            let minority = NodeSelector::Minority.resolve(&ns, &[], &mut rng).unwrap();
            assert!((1..=2).contains(&minority.len()));
            assert_eq!(
                NodeSelector::Majority
                    .resolve(&ns, &[], &mut rng)
                    .unwrap()
                    .len(),
                3
            );
            assert_eq!(NodeSelector::All.resolve(&ns, &[], &mut rng).unwrap(), ns);
        }
    }

    #[test]
    fn minority_of_four_is_one_node() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            assert_eq!(
                NodeSelector::Minority
                    .resolve(&nodes(4), &[], &mut rng)
                    .unwrap()
                    .len(),
                1
            );
        }
    }

    #[test]
    fn primaries_keep_only_known_nodes() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let p = vec!["n3".to_string(), "n7".to_string()];
        assert_eq!(
            NodeSelector::Primaries
                .resolve(&nodes(3), &p, &mut rng)
                .unwrap(),
            vec!["n3".to_string()]
        );
    }

    #[test]
    fn same_seed_same_choice_and_empty_cluster_refused() {
        let ns = nodes(7);
        let a = NodeSelector::Majority
            .resolve(&ns, &[], &mut ChaCha8Rng::seed_from_u64(5))
            .unwrap();
        let b = NodeSelector::Majority
            .resolve(&ns, &[], &mut ChaCha8Rng::seed_from_u64(5))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            NodeSelector::One.resolve(&[], &[], &mut ChaCha8Rng::seed_from_u64(5)),
            Err(SelectorError::NoNodes)
        );
        assert_eq!("all".parse::<NodeSelector>().unwrap(), NodeSelector::All);
        assert!("half".parse::<NodeSelector>().is_err());
    }
}
