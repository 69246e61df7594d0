//! `Thread`: one per registered binder thread (one thread channel). It
//! holds the thread's place in the looper protocol and the top of its
//! transaction stack; the stack itself is the chain of `from_parent` /
//! `to_parent` links through the transactions (binder's layout).

use crate::error::Failure;
use crate::ids::{ProcId, ThreadId};
use crate::protocol::{Priority, Return};
use crate::txn_table::TxnKey;
use crate::work::Work;
use crate::{Core, Effect};

/// Where a thread stands in the looper protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Looper {
    /// A plain thread that only makes calls (and serves nested ones).
    None,
    /// Spawned on the mediator's request and registered.
    Registered,
    /// Joined the pool by itself.
    Entered,
    /// Left the pool.
    Exited,
}

/// A thread.
#[derive(Debug)]
pub(crate) struct Thread {
    /// Its process.
    pub proc: ProcId,
    /// Kernel thread id, verified by the I/O layer.
    pub tid: i32,
    /// Looper state.
    pub looper: Looper,
    /// Top of this thread's transaction stack.
    pub top: Option<TxnKey>,
    /// Waiting for process work (`WaitForWork` seen, nothing handed yet).
    pub idle: bool,
    /// The priority the mediator last gave it (or its own at register).
    pub prio: Priority,
    /// What it had before a oneway call raised it to its node's minimum;
    /// put back when it next asks for work (binder restores a thread's
    /// priority when it goes back to waiting for process work).
    pub oneway_saved: Option<Priority>,
    /// It polls (it sent `TakeWork`): while idle it is woken, never handed
    /// work.
    pub polled: bool,
}

impl Thread {
    /// Whether the thread may be handed process work.
    pub fn is_looper(&self) -> bool {
        matches!(self.looper, Looper::Registered | Looper::Entered)
    }
}

impl Core {
    /// Applies a looper command from `thread`.
    pub(crate) fn looper_command(
        &mut self,
        thread: ThreadId,
        cmd: LooperCmd,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let th = self.threads.get(thread.0).expect("caller checked");
        let pid = self.procs.get(th.proc.0).map_or(0, |p| p.cred.pid);
        let proc_id = th.proc;
        match cmd {
            LooperCmd::Register | LooperCmd::Enter => {
                // A thread that left the pool may join it again, as
                // binder takes BC_ENTER_LOOPER after BC_EXIT_LOOPER
                // (libbinder's joinThreadPool called twice on a thread).
                if !matches!(th.looper, Looper::None | Looper::Exited) {
                    return Err(Failure::Looper(format!(
                        "thread {} is already in the pool ({:?})",
                        th.tid, th.looper
                    )));
                }
                let p = self.procs.get_mut(proc_id.0).expect("live");
                if cmd == LooperCmd::Register {
                    if p.requested_threads == 0 {
                        return Err(Failure::Looper(format!(
                            "pid {pid}: RegisterLooper without a SpawnLooper request; \
                             a thread joining by itself uses EnterLooper"
                        )));
                    }
                    p.requested_threads -= 1;
                    p.started_loopers += 1;
                }
                self.threads.get_mut(thread.0).expect("live").looper = if cmd == LooperCmd::Register
                {
                    Looper::Registered
                } else {
                    Looper::Entered
                };
            }
            LooperCmd::Exit => {
                if !th.is_looper() {
                    return Err(Failure::Looper(format!(
                        "thread {} is not in the pool",
                        th.tid
                    )));
                }
                let registered = th.looper == Looper::Registered;
                let t = self.threads.get_mut(thread.0).expect("live");
                t.looper = Looper::Exited;
                t.idle = false;
                // A thread that joins the pool again may wait for work
                // the plain way; it polls again only once it asks to.
                t.polled = false;
                let p = self.procs.get_mut(proc_id.0).expect("live");
                p.idle.retain(|&x| x != thread);
                if registered {
                    p.started_loopers = p.started_loopers.saturating_sub(1);
                }
            }
            LooperCmd::WaitForWork => {
                if !th.is_looper() {
                    return Err(Failure::Looper(format!(
                        "thread {} asked for process work but is not in the pool \
                         (EnterLooper or RegisterLooper first)",
                        th.tid
                    )));
                }
                // A thread with a stack takes only its own stack's work (as
                // a binder thread reading with a transaction stack does):
                // asking is harmless and gets nothing. This happens when a
                // pool thread answers notices that were delivered straight to
                // it while a call it must serve was already on its way.
                if th.top.is_some() || th.idle {
                    return Ok(());
                }
                self.restore_oneway_priority(thread, fx);
                self.go_idle(proc_id, thread);
                self.dispatch(proc_id, fx);
            }
        }
        Ok(())
    }

    /// A spawn request the process could not meet: it no longer counts as
    /// outstanding, so the next time the pool runs out of idle threads it
    /// is asked again (not at once: a process out of threads would only
    /// fail again, in a loop with the mediator).
    pub(crate) fn spawn_failed(&mut self, proc_id: ProcId) -> Result<(), Failure> {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        if p.requested_threads == 0 {
            return Err(Failure::Looper(format!(
                "pid {}: SpawnFailed without an outstanding SpawnLooper request",
                p.cred.pid
            )));
        }
        p.requested_threads -= 1;
        p.counters.spawn_failures += 1;
        Ok(())
    }

    /// Sets the process's pool maximum, within the cap.
    pub(crate) fn set_max_threads(&mut self, proc_id: ProcId, n: u32) -> Result<(), Failure> {
        let cap = self.limits.thread_cap;
        let p = self.procs.get_mut(proc_id.0).expect("live");
        if n > cap {
            return Err(Failure::TooManyThreads {
                pid: p.cred.pid,
                limit: cap as usize,
            });
        }
        p.max_threads = n;
        Ok(())
    }

    /// Queues process work and hands it to an idle pool thread if there is one.
    pub(crate) fn queue_work(&mut self, proc_id: ProcId, work: Work, fx: &mut Vec<Effect>) {
        let Some(p) = self.procs.get_mut(proc_id.0) else {
            return;
        };
        p.todo.push_back(work);
        self.dispatch(proc_id, fx);
    }

    /// Hands queued process work to idle pool threads, and asks for one more
    /// thread when work waits and nobody is idle (binder's spawn request).
    pub(crate) fn dispatch(&mut self, proc_id: ProcId, fx: &mut Vec<Effect>) {
        loop {
            let Some(p) = self.procs.get_mut(proc_id.0) else {
                return;
            };
            if p.frozen || p.todo.is_empty() {
                return;
            }
            let Some(thread) = p.idle.pop() else {
                break;
            };
            let th = self
                .threads
                .get_mut(thread.0)
                .expect("idle threads are live");
            th.idle = false;
            if th.polled {
                // Woken, not handed the work: it takes it with `TakeWork`
                // when it reads, or another thread does first.
                fx.push(Effect::Deliver {
                    thread,
                    ret: Return::WorkAvailable,
                    fds: Vec::new(),
                });
                continue;
            }
            let p = self.procs.get_mut(proc_id.0).expect("live");
            let work = p.todo.pop_front().expect("checked non-empty");
            // Binder's rule: when the last idle thread takes work, ask it
            // for another thread first (binder writes BR_SPAWN_LOOPER at the
            // head of that read), so a pool whose threads all block in
            // calls still grows.
            if p.idle.is_empty() && p.requested_threads == 0 && p.started_loopers < p.max_threads {
                p.requested_threads += 1;
                p.spawn_asked = Some(thread);
                p.counters.spawn_requests += 1;
                fx.push(Effect::Deliver {
                    thread,
                    ret: Return::SpawnLooper,
                    fds: Vec::new(),
                });
            }
            if !self.hand_work(proc_id, thread, work, fx) {
                self.go_idle(proc_id, thread);
            }
        }
        self.maybe_spawn(proc_id, fx);
    }

    /// Gives `work` to `thread`; false when there was nothing to give (a
    /// freeze notice already answered).
    fn hand_work(
        &mut self,
        proc_id: ProcId,
        thread: ThreadId,
        work: Work,
        fx: &mut Vec<Effect>,
    ) -> bool {
        match work {
            Work::Notice(ret) => {
                fx.push(Effect::Deliver {
                    thread,
                    ret,
                    fds: Vec::new(),
                });
                true
            }
            Work::Transaction(id) => {
                self.deliver_txn(id, thread, fx);
                true
            }
            Work::Frozen(h) => self.deliver_freeze_notice(proc_id, h, thread, fx),
            Work::DirectServe(id) => self.deliver_direct(id, thread, fx),
        }
    }

    /// `TakeWork`: the next process work for a polling thread, or
    /// `NoWork` and it waits (woken with `WorkAvailable`).
    pub(crate) fn take_work(
        &mut self,
        thread: ThreadId,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let th = self.threads.get_mut(thread.0).expect("caller checked");
        if !th.is_looper() {
            return Err(Failure::Looper(format!(
                "thread {} took work but is not in the pool (EnterLooper first)",
                th.tid
            )));
        }
        let first = !th.polled;
        th.polled = true;
        let proc_id = th.proc;
        let no_stack = th.top.is_none();
        if first {
            // A process that serves from an event loop serves no direct
            // channel (see `grant_direct`), also one granted before.
            self.trim_served(proc_id, 0, fx);
        }
        // A thread with a stack takes only its own stack's work.
        if no_stack {
            self.restore_oneway_priority(thread, fx);
            while let Some(work) = self.procs.get_mut(proc_id.0).and_then(|p| {
                // A frozen process's work waits for the thaw.
                (!p.frozen).then(|| p.todo.pop_front()).flatten()
            }) {
                // The answer first, then the item: deliveries to a thread
                // keep their order, so nothing comes between them.
                fx.push(Effect::Deliver {
                    thread,
                    ret: Return::WorkTaken,
                    fds: Vec::new(),
                });
                if self.hand_work(proc_id, thread, work, fx) {
                    return Ok(());
                }
                // Nothing was given (a freeze notice already answered),
                // and nothing pushed after the answer: take it back.
                let taken = fx.pop();
                debug_assert!(matches!(
                    taken,
                    Some(Effect::Deliver {
                        ret: Return::WorkTaken,
                        ..
                    })
                ));
            }
            self.go_idle(proc_id, thread);
        }
        fx.push(Effect::Deliver {
            thread,
            ret: Return::NoWork,
            fds: Vec::new(),
        });
        Ok(())
    }

    /// A thread that asks for process work goes back to the priority a
    /// oneway call raised it from (binder restores it when the thread
    /// waits for process work again).
    fn restore_oneway_priority(&mut self, thread: ThreadId, fx: &mut Vec<Effect>) {
        let th = self.threads.get_mut(thread.0).expect("live");
        if let Some(prio) = th.oneway_saved.take() {
            th.prio = prio;
            fx.push(Effect::RestorePriority {
                thread,
                tid: th.tid,
                prio,
            });
        }
    }

    /// `thread` waits for process work.
    fn go_idle(&mut self, proc_id: ProcId, thread: ThreadId) {
        self.threads.get_mut(thread.0).expect("live").idle = true;
        self.procs
            .get_mut(proc_id.0)
            .expect("live")
            .idle
            .push(thread);
    }

    fn maybe_spawn(&mut self, proc_id: ProcId, fx: &mut Vec<Effect>) {
        let Some(p) = self.procs.get_mut(proc_id.0) else {
            return;
        };
        if p.requested_threads > 0 || p.started_loopers + p.requested_threads >= p.max_threads {
            return;
        }
        // Ask a pool thread if there is one (it is the one reading), else
        // any thread of the process.
        let pick = p
            .threads
            .iter()
            .copied()
            .find(|t| self.threads.get(t.0).is_some_and(|th| th.is_looper()))
            .or_else(|| p.threads.first().copied());
        if let Some(thread) = pick {
            p.requested_threads += 1;
            p.spawn_asked = Some(thread);
            p.counters.spawn_requests += 1;
            fx.push(Effect::Deliver {
                thread,
                ret: Return::SpawnLooper,
                fds: Vec::new(),
            });
        }
    }
}

/// The looper commands, split out of `Command` for `looper_command`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LooperCmd {
    Register,
    Enter,
    Exit,
    WaitForWork,
}
