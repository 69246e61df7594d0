//! Reference counting across processes: the holder's increfs / acquire /
//! release / decrefs on its handles, and the owner's acknowledgements.
//! Every change of a ref's counts goes through `add_counts` or `sub_count`,
//! which keep the node's holder counts equal to the refs that exist.

use crate::error::Failure;
use crate::ids::{NodeId, ProcId};
use crate::node::NoticeTo;
use crate::protocol::{Handle, Rights};
use crate::{Core, Effect};

/// Which count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Strong,
    Weak,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Strong => "strong",
            Kind::Weak => "weak",
        }
    }
}

impl Core {
    /// The handle `proc_id` has for `node`, created with `rights` when new
    /// (an existing ref keeps the wider of the two rights: a process that
    /// was given the same object twice holds what it was given).
    pub(crate) fn ref_for(
        &mut self,
        proc_id: ProcId,
        node: NodeId,
        rights: Rights,
    ) -> Result<Handle, Failure> {
        let max_refs = self.limits.max_refs;
        let p = self.procs.get_mut(proc_id.0).expect("live");
        if let Some(h) = p.handles.handle_of(node) {
            let r = p.handles.get_mut(h).expect("indexed");
            r.rights = r.rights | rights;
            return Ok(h);
        }
        if p.handles.len() >= max_refs {
            return Err(Failure::TooManyRefs {
                pid: p.cred.pid,
                limit: max_refs,
            });
        }
        let h = p.handles.insert(node, rights);
        if let Some(n) = self.nodes.get_mut(node.0) {
            n.holders.push(proc_id);
            n.weak.held += 1;
        }
        Ok(h)
    }

    /// Adds one count of `kind` to a ref and updates the node.
    pub(crate) fn add_count(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        kind: Kind,
        to: NoticeTo,
        fx: &mut Vec<Effect>,
    ) {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let r = p.handles.get_mut(h).expect("caller resolved");
        let node = r.node;
        let first = match kind {
            Kind::Strong => {
                r.strong += 1;
                r.strong == 1
            }
            Kind::Weak => {
                r.weak += 1;
                false
            }
        };
        if first {
            if let Some(n) = self.nodes.get_mut(node.0) {
                n.strong.held += 1;
            }
        }
        self.update_node(node, to, fx);
    }

    /// Removes one count of `kind`; a ref with nothing left leaves the table.
    pub(crate) fn sub_count(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        kind: Kind,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let Some(r) = p.handles.get_mut(h) else {
            return Err(Failure::BadHandle(h));
        };
        let node = r.node;
        let last_strong = match kind {
            Kind::Strong if r.strong > 0 => {
                r.strong -= 1;
                r.strong == 0
            }
            Kind::Weak if r.weak > 0 => {
                r.weak -= 1;
                false
            }
            _ => {
                return Err(Failure::RefUnderflow {
                    handle: h,
                    kind: kind.name().into(),
                })
            }
        };
        if last_strong {
            if let Some(n) = self.nodes.get_mut(node.0) {
                n.strong.held -= 1;
            }
            // A direct channel calls on the strong count it was granted on.
            self.revoke_direct(
                |_, g| g.caller_proc == proc_id && g.handle == h,
                crate::direct::End::CallerGone,
                fx,
            );
        }
        self.gc_ref(proc_id, h, fx);
        Ok(())
    }

    /// Removes a ref that has no counts and no subscription left.
    pub(crate) fn gc_ref(&mut self, proc_id: ProcId, h: Handle, fx: &mut Vec<Effect>) {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let Some(r) = p.handles.get(h) else { return };
        let node = r.node;
        if !r.in_use() {
            p.handles.remove(h);
            if let Some(n) = self.nodes.get_mut(node.0) {
                n.weak.held -= 1;
                n.holders.retain(|&x| x != proc_id);
            }
            self.check_publishers(node, fx);
        }
        self.update_node(node, NoticeTo::Queue, fx);
    }

    /// Drops a ref whole (its holder died).
    pub(crate) fn drop_ref(&mut self, proc_id: ProcId, h: Handle, fx: &mut Vec<Effect>) {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let Some(r) = p.handles.get_mut(h) else {
            return;
        };
        let node = r.node;
        let had_strong = r.strong > 0;
        r.strong = 0;
        r.weak = 0;
        r.death = None;
        r.freeze = None;
        if had_strong {
            if let Some(n) = self.nodes.get_mut(node.0) {
                n.strong.held -= 1;
            }
        }
        self.gc_ref(proc_id, h, fx);
    }

    /// The holder's `IncRefs`/`Acquire`/`Release`/`DecRefs` on a handle.
    /// Handle 0 holds no count: these are accepted there and change nothing.
    pub(crate) fn ref_command(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        kind: Kind,
        inc: bool,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        if h == Handle::CONTEXT_MANAGER {
            return Ok(());
        }
        let p = self.procs.get(proc_id.0).expect("live");
        let Some(r) = p.handles.get(h) else {
            return Err(Failure::BadHandle(h));
        };
        if !inc {
            return self.sub_count(proc_id, h, kind, fx);
        }
        if kind == Kind::Strong && r.strong == 0 {
            // Promotion of a weak ref: only while the owner still holds
            // the object strongly (libbinder's attemptIncStrong).
            let alive = self
                .nodes
                .get(r.node.0)
                .is_some_and(|n| !n.is_dead() && (n.strong.held > 0 || n.strong.told));
            if !alive {
                return Err(Failure::PromotionFailed(h));
            }
        }
        self.add_count(proc_id, h, kind, NoticeTo::Queue, fx);
        Ok(())
    }

    /// The owner's `AcquireDone` / `IncRefsDone`.
    pub(crate) fn ack_command(
        &mut self,
        proc_id: ProcId,
        ptr: u64,
        cookie: u64,
        kind: Kind,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let what = match kind {
            Kind::Strong => "AcquireDone",
            Kind::Weak => "IncRefsDone",
        };
        let unexpected = || Failure::UnexpectedAck {
            what: what.into(),
            ptr,
        };
        let p = self.procs.get(proc_id.0).expect("live");
        let id = *p.nodes.get(&ptr).ok_or_else(unexpected)?;
        let n = self.nodes.get_mut(id.0).ok_or_else(unexpected)?;
        if n.cookie != cookie {
            return Err(unexpected());
        }
        let c = match kind {
            Kind::Strong => &mut n.strong,
            Kind::Weak => &mut n.weak,
        };
        if !c.ack_pending {
            return Err(unexpected());
        }
        c.ack_pending = false;
        self.update_node(id, NoticeTo::Queue, fx);
        Ok(())
    }
}
