//! Balancing: which node a request tries first, and the order of the rest.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Request n goes first to node n mod N, then the others in list order after it:
    /// the course's `x % 2` primary/backup choice, for any N.
    #[default]
    Parity,
    /// The first live node in list order; the others are standbys.
    Sequential,
}

impl Policy {
    /// Node indexes to try, in order, for request number `n` over `nodes` nodes.
    pub fn order(self, n: u64, nodes: usize) -> impl Iterator<Item = usize> {
        let first = match self {
            Policy::Parity if nodes > 0 => (n % nodes as u64) as usize,
            _ => 0,
        };
        (0..nodes).map(move |i| (first + i) % nodes)
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "parity" => Ok(Policy::Parity),
            "sequential" => Ok(Policy::Sequential),
            other => Err(format!(
                "unknown policy {other:?}: expected \"parity\" or \"sequential\""
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Parity => "parity",
            Policy::Sequential => "sequential",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(p: Policy, n: u64, nodes: usize) -> Vec<usize> {
        p.order(n, nodes).collect()
    }

    #[test]
    fn parity_alternates_like_the_course() {
        assert_eq!(order(Policy::Parity, 0, 2), [0, 1]);
        assert_eq!(order(Policy::Parity, 1, 2), [1, 0]);
        assert_eq!(order(Policy::Parity, 2, 2), [0, 1]);
    }

    #[test]
    fn parity_rotates_over_n_nodes() {
        assert_eq!(order(Policy::Parity, 4, 3), [1, 2, 0]);
        assert_eq!(order(Policy::Parity, u64::MAX, 3), [0, 1, 2]);
    }

    #[test]
    fn sequential_always_starts_at_the_first() {
        for n in 0..5 {
            assert_eq!(order(Policy::Sequential, n, 3), [0, 1, 2]);
        }
    }

    #[test]
    fn every_node_exactly_once() {
        for nodes in 1..6 {
            for n in 0..10 {
                let mut o = order(Policy::Parity, n, nodes);
                o.sort();
                assert_eq!(o, (0..nodes).collect::<Vec<_>>());
            }
        }
        assert!(order(Policy::Parity, 3, 0).is_empty());
    }

    #[test]
    fn parses_names() {
        assert_eq!("parity".parse::<Policy>().unwrap(), Policy::Parity);
        assert_eq!("sequential".parse::<Policy>().unwrap(), Policy::Sequential);
        assert!("random".parse::<Policy>().unwrap_err().contains("random"));
    }
}
