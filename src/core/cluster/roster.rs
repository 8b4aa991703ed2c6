//! The nodes of one `Cluster`, append-only: a node added at run time takes the next index and
//! a removed one is only retired, so an index a request or an `insert_many` chunk took stays
//! valid for the instance's life. Reads take no lock (each slot is set once), which keeps
//! `Backend::name` a plain borrow and costs a statement nothing; add and remove are
//! serialised, and what they do is decided by [`plan_add`] and [`plan_remove`].

use std::ops::Index;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::core::error::{Error, Result};
use crate::core::node::Node;
use crate::core::settings::address::Endpoint;
use crate::core::sync::lock;

/// Distinct addresses one instance can ever know (given, added and retired ones together):
/// the slots are allocated once, so a reader never sees them move.
pub const MAX_NODES: usize = 64;

pub struct Roster {
    slots: Box<[OnceLock<Arc<Node>>]>,
    len: AtomicUsize,
    /// Held by `add_node` and `remove_node` for their decision and its effect: two removals at
    /// once cannot both take the last node out of rotation.
    change: Mutex<()>,
}

impl Roster {
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Self {
        let slots: Box<[OnceLock<Arc<Node>>]> = (0..MAX_NODES).map(|_| OnceLock::new()).collect();
        let mut len = 0;
        for (slot, node) in slots.iter().zip(nodes) {
            let _ = slot.set(Arc::new(node));
            len += 1;
        }
        Roster {
            slots,
            len: AtomicUsize::new(len),
            change: Mutex::new(()),
        }
    }

    /// Nodes known so far, retired ones included: every index below this is valid for good.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Never true: an instance has at least one node, and nodes are never taken out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, idx: usize) -> Option<&Arc<Node>> {
        self.slots.get(idx).and_then(OnceLock::get)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.slots[..self.len()].iter().filter_map(OnceLock::get)
    }

    /// Indexes of the nodes in rotation (not retired), in the order they became known.
    pub fn in_rotation(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| !self[i].is_retired()).collect()
    }

    /// What each known node is, for [`plan_add`] and [`plan_remove`].
    pub fn known(&self) -> Vec<Known> {
        self.iter()
            .map(|n| Known {
                endpoint: n.endpoint.clone(),
                retired: n.is_retired(),
            })
            .collect()
    }

    /// Serialises a change of membership; hold it across the plan and its effect.
    pub fn changing(&self) -> MutexGuard<'_, ()> {
        lock(&self.change)
    }

    /// Appends `node` (the caller holds [`Roster::changing`]); its index.
    pub fn push(&self, node: Node) -> Result<usize> {
        let idx = self.len();
        let slot = self.slots.get(idx).ok_or_else(|| {
            Error::Membership(format!(
                "cannot add {}: an instance knows at most {MAX_NODES} node addresses",
                node.name
            ))
        })?;
        let _ = slot.set(Arc::new(node));
        // Published after the slot is set: a reader that sees the length sees the node.
        self.len.store(idx + 1, Ordering::Release);
        Ok(idx)
    }
}

impl Index<usize> for Roster {
    type Output = Arc<Node>;

    fn index(&self, idx: usize) -> &Arc<Node> {
        match self.get(idx) {
            Some(n) => n,
            None => panic!("node index {idx} was never handed out"),
        }
    }
}

/// One known node as the membership decisions see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub endpoint: Endpoint,
    pub retired: bool,
}

/// What adding an address does.
#[derive(Debug, PartialEq, Eq)]
pub enum AddPlan {
    /// Already in rotation: nothing to do.
    InRotation(usize),
    /// Known and retired: the same node returns (same index, same counters).
    Revive(usize),
    /// A new node at the next index.
    New,
}

/// Matches by address as written (host and port): the same host spelled two ways (a name and
/// its IP) is two nodes here.
pub fn plan_add(known: &[Known], endpoint: &Endpoint) -> AddPlan {
    match known.iter().position(|k| &k.endpoint == endpoint) {
        Some(i) if known[i].retired => AddPlan::Revive(i),
        Some(i) => AddPlan::InRotation(i),
        None => AddPlan::New,
    }
}

/// Which node removing `endpoint` retires, or why it cannot: an address not known (or already
/// retired), or the last node in rotation (the instance would have nowhere to write).
pub fn plan_remove(known: &[Known], endpoint: &Endpoint) -> Result<usize> {
    let in_rotation = || {
        known
            .iter()
            .filter(|k| !k.retired)
            .map(|k| k.endpoint.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(i) = known
        .iter()
        .position(|k| &k.endpoint == endpoint && !k.retired)
    else {
        return Err(Error::Membership(format!(
            "cannot remove {endpoint}: not a node in rotation (nodes: {})",
            in_rotation()
        )));
    };
    if known.iter().filter(|k| !k.retired).count() == 1 {
        return Err(Error::Membership(format!(
            "cannot remove {endpoint}: it is the last node in rotation"
        )));
    }
    Ok(i)
}

#[cfg(test)]
mod tests;
