//! Which nodes a node fault hits, as a pure seeded choice: the one place
//! where [`Victims`] become node names.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::fault::Victims;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("failed to select nodes: the cluster has none")]
    NoNodes,
}

impl Victims {
    /// The chosen node names, in the order of `nodes`. `primaries` is only
    /// read by [`Victims::Primaries`]; names in it that are not nodes
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
            Victims::One => 1,
            Victims::Minority => {
                let max = n.div_ceil(2).saturating_sub(1).max(1);
                rng.random_range(1..=max)
            }
            Victims::Majority => n / 2 + 1,
            Victims::All => n,
            Victims::Primaries => {
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
            assert_eq!(Victims::One.resolve(&ns, &[], &mut rng).unwrap().len(), 1);
            let minority = Victims::Minority.resolve(&ns, &[], &mut rng).unwrap();
            assert!((1..=2).contains(&minority.len()));
            assert_eq!(
                Victims::Majority.resolve(&ns, &[], &mut rng).unwrap().len(),
                3
            );
            assert_eq!(Victims::All.resolve(&ns, &[], &mut rng).unwrap(), ns);
        }
    }

    #[test]
    fn minority_of_four_is_one_node() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            assert_eq!(
                Victims::Minority
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
            Victims::Primaries.resolve(&nodes(3), &p, &mut rng).unwrap(),
            vec!["n3".to_string()]
        );
    }

    #[test]
    fn same_seed_same_choice_and_empty_cluster_refused() {
        let ns = nodes(7);
        let a = Victims::Majority
            .resolve(&ns, &[], &mut ChaCha8Rng::seed_from_u64(5))
            .unwrap();
        let b = Victims::Majority
            .resolve(&ns, &[], &mut ChaCha8Rng::seed_from_u64(5))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            Victims::One.resolve(&[], &[], &mut ChaCha8Rng::seed_from_u64(5)),
            Err(SelectorError::NoNodes)
        );
        assert_eq!("all".parse::<Victims>().unwrap(), Victims::All);
        assert!("half".parse::<Victims>().is_err());
    }
}
