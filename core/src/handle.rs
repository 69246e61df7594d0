//! `HandleTable`: one per process, its references to other processes' nodes.
//!
//! A handle is an arena id (index plus generation) and so is never reused
//! while the process lives; handle 0 is not in the table, it resolves to the
//! context manager (see `Core::resolve`). The same node always maps to the
//! same handle in one process, as binder does, so a binder sent twice is
//! recognised as the same object.

use rustc_hash::FxHashMap;

use crate::arena::Arena;
use crate::ids::NodeId;
use crate::protocol::{Handle, Rights};

/// A death subscription on a ref.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeathSub {
    /// The subscriber's cookie.
    pub cookie: u64,
    /// The notice went out; waiting for `DeadBinderDone`.
    pub delivered: bool,
}

/// One process's reference to a node.
#[derive(Clone, Debug)]
pub(crate) struct Ref {
    /// The node referred to.
    pub node: NodeId,
    /// Strong count held by the process.
    pub strong: u32,
    /// Weak count held by the process.
    pub weak: u32,
    /// What the holder may do with it; narrows only.
    pub rights: Rights,
    /// At most one death subscription per ref (binder's rule).
    pub death: Option<DeathSub>,
    /// At most one freeze subscription per ref (binder's rule).
    pub freeze: Option<FreezeSub>,
}

/// A freeze subscription on a ref (binder's `binder_ref_freeze`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FreezeSub {
    /// The subscriber's cookie.
    pub cookie: u64,
    /// The owner's state, as the next notice will tell it.
    pub is_frozen: bool,
    /// A notice waits in the subscriber's queue (it reads `is_frozen` when
    /// it goes out, so changes meanwhile coalesce into it).
    pub queued: bool,
    /// A notice went out and its `FreezeNoticeDone` has not come.
    pub sent: bool,
    /// The state changed while `sent`: send again after the done.
    pub resend: bool,
}

impl Ref {
    /// A ref stays in the table while it has a count or a subscription.
    pub fn in_use(&self) -> bool {
        self.strong > 0 || self.weak > 0 || self.death.is_some() || self.freeze.is_some()
    }

    /// Its node, if the holder (of `h`) may use it for `needed`.
    pub fn node_for(&self, h: Handle, needed: Rights) -> Result<NodeId, crate::error::Failure> {
        if !self.rights.contains(needed) {
            return Err(crate::error::Failure::NoRight {
                handle: h,
                needed,
                held: self.rights,
            });
        }
        Ok(self.node)
    }
}

/// The handle table of one process.
#[derive(Default)]
pub(crate) struct HandleTable {
    refs: Arena<Ref>,
    /// Fx rather than SipHash: node ids are arena ids the core assigns,
    /// so no process can choose keys that collide.
    by_node: FxHashMap<NodeId, Handle>,
}

impl HandleTable {
    /// The ref behind `h`.
    pub fn get(&self, h: Handle) -> Option<&Ref> {
        self.refs.get(h.0)
    }

    /// The ref behind `h`, mutably.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut Ref> {
        self.refs.get_mut(h.0)
    }

    /// The handle this process already has for `node`.
    pub fn handle_of(&self, node: NodeId) -> Option<Handle> {
        self.by_node.get(&node).copied()
    }

    /// Adds a fresh, count-less ref to `node` and returns its new handle.
    pub fn insert(&mut self, node: NodeId, rights: Rights) -> Handle {
        let h = Handle(self.refs.insert(Ref {
            node,
            strong: 0,
            weak: 0,
            rights,
            death: None,
            freeze: None,
        }));
        self.by_node.insert(node, h);
        h
    }

    /// Removes the ref behind `h`.
    pub fn remove(&mut self, h: Handle) -> Option<Ref> {
        let r = self.refs.remove(h.0)?;
        self.by_node.remove(&r.node);
        Some(r)
    }

    /// Number of refs.
    pub fn len(&self) -> usize {
        self.by_node.len()
    }

    /// Every handle with its ref.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &Ref)> {
        self.refs.iter().map(|(id, r)| (Handle(id), r))
    }

    /// Every handle (collected).
    pub fn handles(&self) -> Vec<Handle> {
        self.refs.ids().into_iter().map(Handle).collect()
    }

    /// Checks the two indexes agree.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.refs.len() != self.by_node.len() {
            return Err(format!(
                "{} refs but {} node index entries",
                self.refs.len(),
                self.by_node.len()
            ));
        }
        for (h, r) in self.iter() {
            if self.by_node.get(&r.node) != Some(&h) {
                return Err(format!("{h}: node index points elsewhere"));
            }
            if !r.in_use() {
                return Err(format!("{h}: unused ref left in the table"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_never_reused_within_a_process() {
        let mut t = HandleTable::default();
        let n = NodeId(1 << 32);
        let h1 = t.insert(n, Rights::ALL);
        t.remove(h1).unwrap();
        let h2 = t.insert(n, Rights::ALL);
        assert_ne!(h1, h2);
        assert!(
            t.get(h1).is_none(),
            "a stale handle must not find the new ref"
        );
        assert_ne!(h1, Handle::CONTEXT_MANAGER);
        assert_ne!(h2, Handle::CONTEXT_MANAGER);
    }
}
