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
    /// A request with a key goes first to the node a stable hash of the key picks (rendezvous
    /// hashing over the nodes' addresses), so writes to one key meet on one node and do not
    /// conflict at certification; different keys still spread over all nodes, and a node
    /// leaving moves only its own keys. Requests without a key: parity.
    KeyAffinity,
    /// Fewest statements in flight first, ties broken by recent latency, then by parity.
    LeastLoaded,
}

/// What a node is doing now, for `least-loaded`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Load {
    pub in_flight: u32,
    /// Recent statement time (a moving average), in microseconds.
    pub latency_us: u64,
}

impl Policy {
    /// Node indexes to try, in order, for request number `request`. `nodes` are the nodes'
    /// stable ids (`node_id` of their addresses), `affinity` the request's key hash
    /// (`key_hash`), `load` each node's load.
    pub fn order(
        self,
        request: u64,
        affinity: Option<u64>,
        nodes: &[u64],
        load: impl Fn(usize) -> Load,
    ) -> Vec<usize> {
        let n = nodes.len();
        let parity = |first: usize| -> Vec<usize> { (0..n).map(|i| (first + i) % n).collect() };
        let rotation = if n > 0 {
            (request % n as u64) as usize
        } else {
            0
        };
        match (self, affinity) {
            (Policy::Sequential, _) => parity(0),
            (Policy::KeyAffinity, Some(key)) => {
                let mut order: Vec<usize> = (0..n).collect();
                // Highest score first; the id breaks a tie so the order is total.
                order.sort_by_key(|&i| std::cmp::Reverse((mix(key ^ nodes[i]), nodes[i])));
                order
            }
            (Policy::LeastLoaded, _) => {
                let mut order = parity(rotation);
                let loads: Vec<Load> = (0..n).map(&load).collect();
                // Stable sort: equal loads keep the parity rotation, so idle nodes share work.
                order.sort_by_key(|&i| (loads[i].in_flight, loads[i].latency_us / LATENCY_BAND));
                order
            }
            _ => parity(rotation),
        }
    }
}

/// Latencies within the same band (microseconds) count as a tie: a few hundred microseconds'
/// noise must not send everything to one node.
const LATENCY_BAND: u64 = 500;

/// A node's stable id for key affinity: from its address, the same in every process (clients
/// on different machines agree on where a key goes).
pub fn node_id(address: &str) -> u64 {
    fnv(address.as_bytes())
}

/// A key's hash for key affinity, from the key's text (stable across processes and versions).
pub fn key_hash(key: &[u8]) -> u64 {
    fnv(key)
}

/// FNV-1a: small, stable, and good enough once mixed (`mix`).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64's finaliser: spreads the combined key and node ids over all 64 bits, so the
/// highest score is a fair draw among the nodes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "parity" => Ok(Policy::Parity),
            "sequential" => Ok(Policy::Sequential),
            "key-affinity" => Ok(Policy::KeyAffinity),
            "least-loaded" => Ok(Policy::LeastLoaded),
            other => Err(format!(
                "unknown policy {other:?}: expected \"parity\", \"sequential\", \"key-affinity\" or \"least-loaded\""
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Parity => "parity",
            Policy::Sequential => "sequential",
            Policy::KeyAffinity => "key-affinity",
            Policy::LeastLoaded => "least-loaded",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(nodes: usize) -> Vec<u64> {
        (0..nodes)
            .map(|i| node_id(&format!("10.0.0.{i}:3306")))
            .collect()
    }

    fn order(p: Policy, n: u64, nodes: usize) -> Vec<usize> {
        p.order(n, None, &ids(nodes), |_| Load::default())
    }

    fn by_key(key: &str, ids: &[u64]) -> Vec<usize> {
        Policy::KeyAffinity.order(0, Some(key_hash(key.as_bytes())), ids, |_| Load::default())
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
    fn key_affinity_is_stable_and_ignores_the_request_number() {
        let nodes = ids(3);
        for key in ["Title0", "Title1", "a"] {
            let first = by_key(key, &nodes);
            for n in 0..5 {
                let again =
                    Policy::KeyAffinity.order(n, Some(key_hash(key.as_bytes())), &nodes, |_| {
                        Load::default()
                    });
                assert_eq!(again, first);
            }
            let mut all = first.clone();
            all.sort();
            assert_eq!(all, [0, 1, 2]);
        }
        // Without a key: parity.
        assert_eq!(
            Policy::KeyAffinity.order(4, None, &nodes, |_| Load::default()),
            [1, 2, 0]
        );
    }

    #[test]
    fn key_affinity_spreads_keys_over_the_nodes() {
        let nodes = ids(3);
        let mut per_node = [0; 3];
        for k in 0..3000 {
            per_node[by_key(&format!("key{k}"), &nodes)[0]] += 1;
        }
        assert!(
            per_node.iter().all(|&c| (800..1200).contains(&c)),
            "{per_node:?}"
        );
    }

    #[test]
    fn a_node_leaving_moves_only_its_own_keys() {
        let three = ids(3);
        // Node 1 removed from the set: the ids of the others are unchanged.
        let two = [three[0], three[2]];
        for k in 0..1000 {
            let key = format!("key{k}");
            let before = three[by_key(&key, &three)[0]];
            let after = two[by_key(&key, &two)[0]];
            if before != three[1] {
                assert_eq!(before, after, "{key} moved");
            }
        }
        // And a node that is skipped (down) hands its keys to the key's second choice.
        let order = by_key("key7", &three);
        assert_eq!(
            two[by_key("key7", &two)[0]],
            three[*order.iter().find(|&&i| i != 1).unwrap()]
        );
    }

    #[test]
    fn least_loaded_prefers_fewest_in_flight_then_latency() {
        let nodes = ids(3);
        let load = |busy: [u32; 3], lat: [u64; 3]| {
            move |i: usize| Load {
                in_flight: busy[i],
                latency_us: lat[i],
            }
        };
        let ll = |n, f| Policy::LeastLoaded.order(n, None, &nodes, f);
        assert_eq!(ll(0, load([2, 0, 1], [0, 0, 0])), [1, 2, 0]);
        assert_eq!(ll(0, load([1, 1, 1], [9_000, 2_000, 5_000])), [1, 2, 0]);
        // Within one latency band: a tie, the parity rotation decides, so idle nodes share.
        assert_eq!(ll(1, load([0, 0, 0], [100, 200, 300])), [1, 2, 0]);
        assert_eq!(ll(2, load([0, 0, 0], [100, 200, 300])), [2, 0, 1]);
    }

    #[test]
    fn parses_names() {
        assert_eq!("parity".parse::<Policy>().unwrap(), Policy::Parity);
        assert_eq!("sequential".parse::<Policy>().unwrap(), Policy::Sequential);
        for name in ["key-affinity", "least-loaded"] {
            assert_eq!(name.parse::<Policy>().unwrap().to_string(), name);
        }
        assert!("random".parse::<Policy>().unwrap_err().contains("random"));
    }
}
