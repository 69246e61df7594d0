//! Freeze notifications (binder's `BC_REQUEST_FREEZE_NOTIFICATION`): a
//! process subscribes through its ref to a node and hears, as
//! `FrozenBinder`, whether the node's owner is frozen: at once, then at
//! each change. A notice is built when it leaves the queue, so changes
//! while the subscriber is frozen itself (its queue held) coalesce into
//! one notice of the latest state; a change while a notice waits for its
//! `FreezeNoticeDone` is sent after it.

use crate::error::Failure;
use crate::handle::FreezeSub;
use crate::ids::{ProcId, ThreadId};
use crate::protocol::{Handle, Return, Rights};
use crate::work::Work;
use crate::{Core, Effect};

impl Core {
    /// `RequestFreezeNotice`: subscribe `cookie` to the freezing of the
    /// owner of the node behind `h`.
    pub(crate) fn request_freeze_notice(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        cookie: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let (h, node) = self.resolve_ref(proc_id, h, Rights::LINK_DEATH)?;
        let is_frozen = self
            .nodes
            .get(node.0)
            .and_then(|n| n.owner)
            .and_then(|o| self.procs.get(o.0))
            .is_some_and(|p| p.frozen);
        let r = self
            .procs
            .get_mut(proc_id.0)
            .expect("live")
            .handles
            .get_mut(h)
            .expect("resolved");
        if let Some(f) = r.freeze {
            return Err(Failure::FreezeNotice(format!(
                "{h} already has a subscription (cookie {:#x}); clear it first",
                f.cookie
            )));
        }
        r.freeze = Some(FreezeSub {
            cookie,
            is_frozen,
            queued: true,
            sent: false,
            resend: false,
        });
        self.queue_work(proc_id, Work::Frozen(h), fx);
        Ok(())
    }

    /// `ClearFreezeNotice`: cancel a subscription. A notice still queued
    /// is dropped; one delivered and unanswered holds the confirmation
    /// back until its answer, as binder does.
    pub(crate) fn clear_freeze_notice(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        cookie: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let h = self.subscribed_ref(proc_id, h, Failure::FreezeNotice)?;
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let r = p.handles.get_mut(h).expect("indexed");
        let sub = match r.freeze {
            Some(f) if f.cookie == cookie => f,
            Some(f) => {
                return Err(Failure::FreezeNotice(format!(
                    "{h} is subscribed with cookie {:#x}, not {cookie:#x}",
                    f.cookie
                )))
            }
            None => return Err(Failure::FreezeNotice(format!("{h} has no subscription"))),
        };
        r.freeze = None;
        if sub.queued {
            p.todo.retain(|w| !matches!(w, Work::Frozen(x) if *x == h));
        }
        let held = sub.sent
            && p.pending_freeze_notices
                .iter_mut()
                .find(|(c, x, cleared)| *c == cookie && *x == h && !*cleared)
                .map(|e| e.2 = true)
                .is_some();
        if !held {
            self.notify(proc_id, Return::ClearFreezeNoticeDone { cookie }, fx);
        }
        self.gc_ref(proc_id, h, fx);
        Ok(())
    }

    /// `FreezeNoticeDone`: the oldest unanswered notice with `cookie` was
    /// handled.
    pub(crate) fn freeze_notice_done(
        &mut self,
        proc_id: ProcId,
        cookie: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let Some(i) = p.pending_freeze_notices.iter().position(|e| e.0 == cookie) else {
            return Err(Failure::FreezeNotice(format!(
                "FreezeNoticeDone for cookie {cookie:#x}, which has no delivered notice"
            )));
        };
        let (_, h, cleared) = p.pending_freeze_notices.remove(i);
        if cleared {
            self.notify(proc_id, Return::ClearFreezeNoticeDone { cookie }, fx);
            return Ok(());
        }
        let Some(sub) = p.handles.get_mut(h).and_then(|r| r.freeze.as_mut()) else {
            return Ok(());
        };
        sub.sent = false;
        if std::mem::take(&mut sub.resend) {
            sub.queued = true;
            self.queue_work(proc_id, Work::Frozen(h), fx);
        }
        Ok(())
    }

    /// Sends the notice for the subscription on `h` to `thread`, as it
    /// leaves the queue; false if the subscription is gone (a clear takes
    /// its queued notice out, so that does not happen).
    pub(crate) fn deliver_freeze_notice(
        &mut self,
        proc_id: ProcId,
        h: Handle,
        thread: ThreadId,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        let Some(sub) = p.handles.get_mut(h).and_then(|r| r.freeze.as_mut()) else {
            return false;
        };
        sub.queued = false;
        sub.sent = true;
        let (cookie, is_frozen) = (sub.cookie, sub.is_frozen);
        p.pending_freeze_notices.push((cookie, h, false));
        fx.push(Effect::Deliver {
            thread,
            ret: Return::FrozenBinder { cookie, is_frozen },
            fds: Vec::new(),
        });
        true
    }

    /// `owner` was frozen or thawed: tell every subscriber to one of its
    /// nodes whose last word differs.
    pub(crate) fn freeze_changed(&mut self, owner: ProcId, frozen: bool, fx: &mut Vec<Effect>) {
        let Some(p) = self.procs.get(owner.0) else {
            return;
        };
        let nodes: Vec<_> = p.nodes.values().copied().collect();
        for node in nodes {
            let holders = match self.nodes.get(node.0) {
                Some(n) => n.holders.clone(),
                None => continue,
            };
            for holder in holders {
                let Some(hp) = self.procs.get_mut(holder.0) else {
                    continue;
                };
                let Some(h) = hp.handles.handle_of(node) else {
                    continue;
                };
                let Some(sub) = hp.handles.get_mut(h).and_then(|r| r.freeze.as_mut()) else {
                    continue;
                };
                if sub.is_frozen == frozen {
                    continue;
                }
                sub.is_frozen = frozen;
                if sub.queued {
                    // The queued notice will tell the new state.
                } else if sub.sent {
                    sub.resend = true;
                } else {
                    sub.queued = true;
                    self.queue_work(holder, Work::Frozen(h), fx);
                }
            }
        }
    }
}
