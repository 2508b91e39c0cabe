//! Partition topologies as pure, seeded functions of the node list.
//!
//! A partition is a *grudge*: for each node, the set of nodes it drops
//! traffic from. A grudge applied with iptables `INPUT` drops on both sides
//! cuts TCP in both directions (the SYN or the SYN-ACK is lost), so the
//! topologies here are symmetric: `a` holds a grudge against `b` exactly
//! when `b` holds one against `a`. Nodes with no grudge are absent.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::fault::{Topology, Victims};

/// Node name to the nodes it drops traffic from.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("failed to build a {topology} partition: needs at least {needed} nodes, have {have}")]
    TooFewNodes {
        topology: Topology,
        needed: usize,
        have: usize,
    },
    #[error("failed to build a primaries partition: {0}")]
    BadPrimaries(String),
    #[error("failed to build a grudge: the clients topology cuts nodes from the clients, not from each other")]
    NotAGrudge,
    #[error("failed to choose the nodes to cut off: {0}")]
    Select(#[from] crate::select::SelectorError),
}

/// How a partition cuts the network, resolved to node names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// Nodes drop traffic from each other.
    Nodes(Grudge),
    /// These nodes drop traffic from the clients (the controller) only.
    FromClients(Vec<String>),
}

impl Topology {
    /// The cut for `nodes`: the one place a [`Topology`] becomes node
    /// names. `primaries` is only read by [`Topology::Primaries`].
    pub fn cut<R: Rng + ?Sized>(
        self,
        nodes: &[String],
        primaries: &[String],
        rng: &mut R,
    ) -> Result<Cut, TopologyError> {
        match self {
            // A minority, drawn as victims are, so seeds keep their cuts.
            Topology::Clients => Victims::Minority
                .resolve(nodes, &[], rng)
                .map(Cut::FromClients)
                .map_err(TopologyError::from),
            _ => self.grudge(nodes, primaries, rng).map(Cut::Nodes),
        }
    }

    /// The grudge for `nodes`, for every topology that cuts nodes from
    /// each other ([`Topology::Clients`] does not: see [`Topology::cut`]).
    pub fn grudge<R: Rng + ?Sized>(
        self,
        nodes: &[String],
        primaries: &[String],
        rng: &mut R,
    ) -> Result<Grudge, TopologyError> {
        match self {
            Topology::One => one(nodes, rng),
            Topology::Majority => majority(nodes, rng),
            Topology::RandomHalves => random_halves(nodes, rng),
            Topology::Bridge => bridge(nodes, rng),
            Topology::MajoritiesRing => majorities_ring(nodes, rng),
            Topology::Primaries => isolate_primaries(nodes, primaries),
            Topology::Clients => Err(TopologyError::NotAGrudge),
        }
    }
}

/// Groups of nodes that still see each other under `grudge`, in node
/// order: what the history and the report say a partition left.
pub fn sides(grudge: &Grudge, nodes: &[String]) -> Vec<Vec<String>> {
    let mut sides: Vec<Vec<String>> = Vec::new();
    for node in nodes {
        let seen: Vec<String> = visible(grudge, nodes, node).into_iter().collect();
        if !sides.contains(&seen) {
            sides.push(seen);
        }
    }
    sides
}

fn need(topology: Topology, nodes: &[String], needed: usize) -> Result<(), TopologyError> {
    if nodes.len() < needed {
        return Err(TopologyError::TooFewNodes {
            topology,
            needed,
            have: nodes.len(),
        });
    }
    Ok(())
}

fn shuffled<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Vec<String> {
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    v
}

/// Every node of each component drops traffic from every node of every
/// other component.
pub fn complete(components: &[Vec<String>]) -> Grudge {
    let mut grudge = Grudge::new();
    for (i, mine) in components.iter().enumerate() {
        for (j, theirs) in components.iter().enumerate() {
            if i == j {
                continue;
            }
            for a in mine {
                grudge
                    .entry(a.clone())
                    .or_default()
                    .extend(theirs.iter().cloned());
            }
        }
    }
    grudge.retain(|_, v| !v.is_empty());
    grudge
}

pub fn one<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Result<Grudge, TopologyError> {
    need(Topology::One, nodes, 2)?;
    let v = shuffled(nodes, rng);
    Ok(complete(&[v[..1].to_vec(), v[1..].to_vec()]))
}

pub fn majority<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Result<Grudge, TopologyError> {
    need(Topology::Majority, nodes, 3)?;
    let v = shuffled(nodes, rng);
    let m = nodes.len() / 2 + 1;
    Ok(complete(&[v[..m].to_vec(), v[m..].to_vec()]))
}

pub fn random_halves<R: Rng + ?Sized>(
    nodes: &[String],
    rng: &mut R,
) -> Result<Grudge, TopologyError> {
    need(Topology::RandomHalves, nodes, 2)?;
    let v = shuffled(nodes, rng);
    let half = nodes.len() / 2;
    Ok(complete(&[v[..half].to_vec(), v[half..].to_vec()]))
}

pub fn bridge<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Result<Grudge, TopologyError> {
    need(Topology::Bridge, nodes, 3)?;
    let v = shuffled(nodes, rng);
    // The bridge is v[0]; the rest split into halves that drop each other.
    let rest = &v[1..];
    let half = rest.len() / 2;
    Ok(complete(&[rest[..half].to_vec(), rest[half..].to_vec()]))
}

pub fn majorities_ring<R: Rng + ?Sized>(
    nodes: &[String],
    rng: &mut R,
) -> Result<Grudge, TopologyError> {
    // With 3 nodes every majority of 2 would need a one-way link; with 4 or
    // more a symmetric ring gives each node a distinct majority.
    need(Topology::MajoritiesRing, nodes, 4)?;
    let ring = shuffled(nodes, rng);
    let n = ring.len();
    let m = n / 2 + 1;
    // Seeing every node within ring distance d (both ways) shows 2d+1
    // nodes; the smallest d with 2d+1 >= m keeps the view a majority.
    let d = (m - 1).div_ceil(2);
    let mut grudge = Grudge::new();
    for (i, a) in ring.iter().enumerate() {
        for (j, b) in ring.iter().enumerate() {
            let diff = i.abs_diff(j);
            let distance = diff.min(n - diff);
            if distance > d {
                grudge.entry(a.clone()).or_default().insert(b.clone());
            }
        }
    }
    Ok(grudge)
}

pub fn isolate_primaries(nodes: &[String], primaries: &[String]) -> Result<Grudge, TopologyError> {
    if primaries.is_empty() {
        return Err(TopologyError::BadPrimaries(
            "the target named no primary".to_string(),
        ));
    }
    if let Some(p) = primaries.iter().find(|p| !nodes.contains(p)) {
        return Err(TopologyError::BadPrimaries(format!(
            "{p} is not a node of this cluster"
        )));
    }
    let others: Vec<String> = nodes
        .iter()
        .filter(|n| !primaries.contains(n))
        .cloned()
        .collect();
    Ok(complete(&[primaries.to_vec(), others]))
}

/// The nodes `node` can still exchange traffic with (itself included).
pub fn visible(grudge: &Grudge, nodes: &[String], node: &str) -> BTreeSet<String> {
    nodes
        .iter()
        .filter(|other| {
            let theirs = grudge.get(*other).is_some_and(|g| g.contains(node));
            let mine = grudge.get(node).is_some_and(|g| g.contains(*other));
            !theirs && !mine
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn is_symmetric(g: &Grudge) -> bool {
        g.iter()
            .all(|(a, bs)| bs.iter().all(|b| g.get(b).is_some_and(|x| x.contains(a))))
    }

    fn components_sizes(g: &Grudge, ns: &[String]) -> Vec<usize> {
        let mut sizes: Vec<usize> = ns.iter().map(|n| visible(g, ns, n).len()).collect();
        sizes.sort();
        sizes
    }

    #[test]
    fn complete_grudge_of_n1_versus_n2_n3_cuts_only_across() {
        let g = complete(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
        assert_eq!(
            g["n1"],
            BTreeSet::from(["n2".to_string(), "n3".to_string()])
        );
        assert_eq!(g["n2"], BTreeSet::from(["n1".to_string()]));
        assert_eq!(g["n3"], BTreeSet::from(["n1".to_string()]));
    }

    #[test]
    fn one_isolates_exactly_one_node() {
        let ns = nodes(5);
        let g = one(&ns, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert!(is_symmetric(&g));
        assert_eq!(components_sizes(&g, &ns), vec![1, 4, 4, 4, 4]);
    }

    #[test]
    fn majority_leaves_a_strict_majority_even_with_four_nodes() {
        for n in [3, 4, 5, 6] {
            let ns = nodes(n);
            let g = majority(&ns, &mut ChaCha8Rng::seed_from_u64(n as u64)).unwrap();
            assert!(is_symmetric(&g));
            let max = components_sizes(&g, &ns).into_iter().max().unwrap();
            assert_eq!(max, n / 2 + 1, "n = {n}");
        }
    }

    #[test]
    fn random_halves_of_four_leaves_no_majority() {
        let ns = nodes(4);
        let g = random_halves(&ns, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        assert_eq!(components_sizes(&g, &ns), vec![2, 2, 2, 2]);
    }

    #[test]
    fn bridge_node_sees_everyone_and_the_halves_do_not_see_each_other() {
        let ns = nodes(5);
        let g = bridge(&ns, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
        assert!(is_symmetric(&g));
        assert_eq!(components_sizes(&g, &ns), vec![3, 3, 3, 3, 5]);
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in [4, 5, 6, 7, 9] {
            let ns = nodes(n);
            let g = majorities_ring(&ns, &mut ChaCha8Rng::seed_from_u64(n as u64)).unwrap();
            assert!(is_symmetric(&g), "n = {n}");
            let views: BTreeSet<BTreeSet<String>> =
                ns.iter().map(|x| visible(&g, &ns, x)).collect();
            assert_eq!(views.len(), n, "views must be distinct for n = {n}");
            assert!(views.iter().all(|v| v.len() > n / 2), "n = {n}");
        }
    }

    #[test]
    fn topologies_are_deterministic_for_a_seed() {
        let ns = nodes(5);
        for t in [
            "one",
            "majority",
            "random-halves",
            "bridge",
            "majorities-ring",
        ] {
            let t: Topology = t.parse().unwrap();
            let a = t
                .grudge(&ns, &[], &mut ChaCha8Rng::seed_from_u64(42))
                .unwrap();
            let b = t
                .grudge(&ns, &[], &mut ChaCha8Rng::seed_from_u64(42))
                .unwrap();
            assert_eq!(a, b, "{t}");
            assert_eq!(t.to_string().parse::<Topology>().unwrap(), t);
        }
    }

    #[test]
    fn too_few_nodes_and_unknown_primaries_are_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(matches!(
            majorities_ring(&nodes(3), &mut rng),
            Err(TopologyError::TooFewNodes { needed: 4, .. })
        ));
        assert!(one(&nodes(1), &mut rng).is_err());
        assert!(isolate_primaries(&nodes(3), &["n9".to_string()]).is_err());
        assert!(isolate_primaries(&nodes(3), &[]).is_err());
        let g = isolate_primaries(&nodes(3), &["n2".to_string()]).unwrap();
        assert_eq!(g["n2"].len(), 2);
        assert!("ring".parse::<Topology>().is_err());
    }
}
