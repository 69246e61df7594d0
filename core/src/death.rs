//! Death notifications: a process subscribes through its ref to a node; when
//! the node's owner dies, each subscribed process (not the registering
//! thread) gets one `DeadBinder` and answers `DeadBinderDone`. A
//! subscription made after the death fires at once. Node death also drops
//! the node's queued oneway calls and answers its callers.

use crate::error::Failure;
use crate::handle::DeathSub;
use crate::ids::{NodeId, ProcId};
use crate::node::NoticeTo;
use crate::protocol::{Handle, Return, Rights};
use crate::{Core, Effect};

impl Core {
    /// `RequestDeath`: subscribe `cookie` to the death of the node behind `h`.
    pub(crate) fn request_death(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        cookie: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let (h, node) = self.resolve_ref(proc_id, h, Rights::LINK_DEATH)?;
        let r = self
            .procs
            .get_mut(proc_id.0)
            .expect("live")
            .handles
            .get_mut(h)
            .expect("resolved");
        if let Some(d) = r.death {
            return Err(Failure::Death(format!(
                "{h} already has a subscription (cookie {:#x}); clear it first",
                d.cookie
            )));
        }
        let dead = self.nodes.get(node.0).is_none_or(|n| n.is_dead());
        r.death = Some(DeathSub {
            cookie,
            delivered: dead,
        });
        if dead {
            self.deliver_death(proc_id, cookie, fx);
        }
        Ok(())
    }

    /// `ClearDeath`: cancel a subscription; `ClearDeathDone` confirms it.
    pub(crate) fn clear_death(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        cookie: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let h = self.subscribed_ref(proc_id, h, Failure::Death)?;
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let r = p.handles.get_mut(h).expect("indexed");
        match r.death {
            Some(d) if d.cookie == cookie => r.death = None,
            Some(d) => {
                return Err(Failure::Death(format!(
                    "{h} is subscribed with cookie {:#x}, not {cookie:#x}",
                    d.cookie
                )))
            }
            None => return Err(Failure::Death(format!("{h} has no subscription"))),
        }
        self.notify(proc_id, Return::ClearDeathDone { cookie }, fx);
        self.gc_ref(proc_id, h, fx);
        Ok(())
    }

    /// The handle in `proc_id`'s table of the ref behind `h`, for clearing
    /// a subscription on it (`fail` words the error when there is none).
    pub(crate) fn subscribed_ref(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        fail: fn(String) -> Failure,
    ) -> Result<Handle, Failure> {
        if h == Handle::CONTEXT_MANAGER {
            // Handle 0 has a ref only if a subscription made one: that
            // one, even once its context manager died (and handle 0 no
            // longer resolves, or names a new one).
            if let Some((z, _)) = self.procs.get(proc_id.0).expect("live").live_zero_ref() {
                return Ok(z);
            }
        }
        let node = self.resolve_node(proc_id, h, Rights::NONE)?;
        self.procs
            .get(proc_id.0)
            .expect("live")
            .handles
            .handle_of(node)
            .ok_or_else(|| fail(format!("{h} has no subscription")))
    }

    /// `DeadBinderDone`: a delivered notice was handled.
    pub(crate) fn dead_binder_done(&mut self, proc_id: ProcId, cookie: u64) -> Result<(), Failure> {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let pending = p.pending_deaths.iter().position(|&c| c == cookie);
        match pending {
            Some(i) => {
                p.pending_deaths.swap_remove(i);
                Ok(())
            }
            None => Err(Failure::Death(format!(
                "DeadBinderDone for cookie {cookie:#x}, which has no delivered notice"
            ))),
        }
    }

    fn deliver_death(&mut self, proc_id: ProcId, cookie: u64, fx: &mut Vec<Effect>) {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        p.pending_deaths.push(cookie);
        p.counters.deaths_delivered += 1;
        self.notify(proc_id, Return::DeadBinder { cookie }, fx);
    }

    /// The node's owner died: mark it dead, tell subscribers, fail its
    /// queued oneway calls, and free it if nothing refers to it.
    pub(crate) fn node_died(&mut self, id: NodeId, fx: &mut Vec<Effect>) {
        let Some(n) = self.nodes.get_mut(id.0) else {
            return;
        };
        if let Some(owner) = n.owner.take() {
            if let Some(p) = self.procs.get_mut(owner.0) {
                p.nodes.remove(&n.ptr);
            }
        }
        n.strong.told = false;
        n.strong.ack_pending = false;
        n.weak.told = false;
        n.weak.ack_pending = false;
        n.oneway.busy = false;
        // Its owner's buffers go with the owner.
        n.buffer_holds = 0;
        let queued: Vec<_> = n.oneway.queue.drain(..).collect();
        let holders = n.holders.clone();
        for t in queued {
            self.cancel_txn(t, fx);
        }
        for holder in holders {
            let Some(p) = self.procs.get_mut(holder.0) else {
                continue;
            };
            let Some(h) = p.handles.handle_of(id) else {
                continue;
            };
            let r = p.handles.get_mut(h).expect("indexed");
            if let Some(d) = r.death.as_mut() {
                if !d.delivered {
                    d.delivered = true;
                    let cookie = d.cookie;
                    self.deliver_death(holder, cookie, fx);
                }
            }
        }
        self.update_node(id, NoticeTo::Queue, fx);
    }
}
