//! `Transaction`: one per call in flight, named by a `TxnId` the mediator
//! assigns and never reuses. Sync calls sit on two stacks at once (the
//! caller's through `from_parent`, the server's through `to_parent`), which
//! is how a nested call finds the thread already waiting in its process and
//! how a death unwinds. Replies are not records of their own: a reply is
//! the answer to the record on top of the replier's stack.

use crate::alloc::{Range, RecvBuffer};
use crate::error::{Failure, Side};
use crate::ids::{FdSlot, NodeId, ProcId, ThreadId};
use crate::protocol::{
    DataRange, Handle, Object, Priority, Return, Sender, TxnFlags, TxnId, TxnIn, TxnOut,
    MAX_SPLICES,
};
use crate::txn_table::TxnKey;
use crate::work::Work;
use crate::{Core, Effect};

/// A call in flight.
#[derive(Debug)]
pub(crate) struct Transaction {
    /// Its ID.
    pub id: TxnId,
    /// Method code.
    pub code: u32,
    /// Flags as sent.
    pub flags: TxnFlags,
    /// The calling thread while it waits; `None` once it died (and always
    /// for oneway calls, which nobody waits on).
    pub from: Option<ThreadId>,
    /// The calling process (for pending accounting).
    pub from_proc: ProcId,
    /// Calling identity as the receiver will see it.
    pub sender: Sender,
    /// The receiving process.
    pub to_proc: ProcId,
    /// The serving thread once delivered; `None` if it died.
    pub to_thread: Option<ThreadId>,
    /// The target node (holds it while the call is in flight).
    pub target: NodeId,
    /// The payload in the receiver's buffer.
    pub buffer: DataRange,
    /// The translated side table, until delivery.
    pub objects: Vec<Object>,
    /// The fds to move, until delivery.
    pub fds: Vec<FdSlot>,
    /// The caller's stack below this call.
    pub from_parent: Option<TxnKey>,
    /// The server's stack below this call.
    pub to_parent: Option<TxnKey>,
    /// The server thread's priority before this call changed it.
    pub saved_prio: Option<Priority>,
    /// Handed to a thread.
    pub delivered: bool,
    /// A topic message's sequence number.
    pub seq: Option<u64>,
    /// A topic message: messages its subscriber lost just before it.
    pub lost: u64,
    /// Counts against the sender's pending limit (topic deliveries do not:
    /// a slow subscriber must never block its publisher).
    pub counted: bool,
}

impl Transaction {
    fn oneway(&self) -> bool {
        self.flags.oneway()
    }

    /// Unfinished as binder's `outstanding_txns` counts it: a sync call
    /// until answered, a oneway call until delivered.
    pub(crate) fn outstanding(&self) -> bool {
        !self.oneway() || !self.delivered
    }
}

/// How a call ends without a reply.
#[derive(Clone, Debug)]
pub(crate) enum Fail {
    Dead,
    Frozen,
    Failed(Failure),
}

impl Fail {
    fn to_return(&self, id: TxnId) -> Return {
        match self {
            Fail::Dead => Return::DeadReply { id },
            Fail::Frozen => Return::FrozenReply { id },
            Fail::Failed(error) => Return::FailedReply {
                id,
                error: error.clone(),
            },
        }
    }
}

/// The one copy of a payload into the receiver's buffer, where `dst` was
/// reserved: from the sender's send area, except the splices, which come
/// from ranges delivered to the sender (`from_proc`) earlier.
pub(crate) fn copy_payload(
    from: ThreadId,
    from_proc: ProcId,
    txn: &TxnOut,
    to: ProcId,
    dst: u64,
    fx: &mut Vec<Effect>,
) {
    let data = txn.data;
    let send_area = |start: u64, end: u64, fx: &mut Vec<Effect>| {
        if end > start {
            fx.push(Effect::Copy {
                from,
                src: data.offset + start,
                to,
                dst: dst + start,
                len: end - start,
            });
        }
    };
    let mut pos = 0;
    for s in &txn.splices {
        send_area(pos, s.at, fx);
        fx.push(Effect::CopyReceived {
            from: from_proc,
            src: s.buffer + s.offset,
            to,
            dst: dst + s.at,
            len: s.len,
        });
        pos = s.at + s.len;
    }
    send_area(pos, data.len, fx);
}

/// Where in a page the receiver's range for `txn` should start: the
/// allocator's default, or, for a payload with splices, half a page away
/// from where its largest splice is copied from (see
/// [`alloc::phase_apart`](crate::alloc::phase_apart)).
pub(crate) fn placement(txn: &TxnOut) -> u64 {
    match txn.splices.iter().max_by_key(|s| s.len) {
        Some(s) => crate::alloc::phase_apart(s.buffer.wrapping_add(s.offset), s.at),
        None => crate::alloc::PAGE_PHASE,
    }
}

/// Bytes a payload takes from the sender's receive buffer.
pub(crate) fn spliced_len(txn: &TxnOut) -> u64 {
    txn.splices.iter().map(|s| s.len).sum()
}

/// Checks where a payload's bytes come from: its range in the send area,
/// and each splice against the payload and the ranges delivered to the
/// sender (`sender_buffer`).
pub(crate) fn check_payload(
    txn: &TxnOut,
    area: u64,
    sender_buffer: &RecvBuffer,
    side: Side,
) -> Result<(), Failure> {
    check_range(txn.data, area, side)?;
    if txn.splices.len() > MAX_SPLICES {
        return Err(Failure::BadSplice {
            side,
            index: MAX_SPLICES,
            why: format!(
                "{} splices in one payload; the limit is {MAX_SPLICES}",
                txn.splices.len()
            ),
        });
    }
    let mut pos = 0;
    for (index, s) in txn.splices.iter().enumerate() {
        let bad = |why: String| Failure::BadSplice { side, index, why };
        let end =
            s.at.checked_add(s.len)
                .filter(|&e| s.len > 0 && e <= txn.data.len)
                .ok_or_else(|| {
                    bad(format!(
                        "{} bytes at {} do not lie inside the {}-byte payload",
                        s.len, s.at, txn.data.len
                    ))
                })?;
        if s.at < pos {
            return Err(bad(format!(
                "it starts at {} but the splice before ends at {pos}: splices go in payload order and do not overlap",
                s.at
            )));
        }
        if !sender_buffer.delivered_holds(s.buffer, s.offset, s.len) {
            return Err(bad(format!(
                "{} bytes at {} of the range delivered at {} are not in a range this process holds (never delivered, already freed, or past its end)",
                s.len, s.offset, s.buffer
            )));
        }
        pos = end;
    }
    Ok(())
}

pub(crate) fn check_range(data: DataRange, area: u64, side: Side) -> Result<(), Failure> {
    match data.offset.checked_add(data.len) {
        Some(end) if end <= area => Ok(()),
        _ => Err(Failure::DataOutOfBounds {
            side,
            offset: data.offset,
            len: data.len,
            area,
        }),
    }
}

impl Core {
    pub(crate) fn next_id(&mut self) -> TxnId {
        self.next_txn += 1;
        TxnId(self.next_txn)
    }

    pub(crate) fn sender_of(
        &self,
        thread: ThreadId,
        prio: Option<Priority>,
        work_source: Option<u32>,
    ) -> Sender {
        let th = self.threads.get(thread.0).expect("live");
        let p = self.procs.get(th.proc.0).expect("live");
        Sender {
            pid: p.cred.pid,
            tid: th.tid,
            uid: p.cred.uid,
            euid: p.cred.euid,
            label: p.cred.label.clone(),
            priority: prio,
            work_source,
        }
    }

    pub(crate) fn fail_to(&mut self, thread: ThreadId, id: TxnId, how: Fail, fx: &mut Vec<Effect>) {
        if let Some(p) = self
            .threads
            .get(thread.0)
            .and_then(|t| self.procs.get_mut(t.proc.0))
        {
            match how {
                Fail::Dead => p.counters.dead_replies += 1,
                Fail::Frozen => p.counters.frozen_replies += 1,
                Fail::Failed(_) => p.counters.failed_replies += 1,
            }
        }
        fx.push(Effect::Deliver {
            thread,
            ret: how.to_return(id),
            fds: Vec::new(),
        });
    }

    /// `Transaction`: a call from `thread` on `handle`.
    /// With the server thread named (`forced`) for a call adopted from a
    /// direct channel (`Core::adopt_direct`), which alone may carry
    /// `TxnFlags::ADOPTED`; `None` for every other call.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transact(
        &mut self,
        thread: ThreadId,
        handle: Handle,
        txn: TxnOut,
        fds: Vec<FdSlot>,
        prio: Option<Priority>,
        forced: Option<ThreadId>,
        fx: &mut Vec<Effect>,
    ) {
        let id = self.next_id();
        match self.try_transact(id, thread, handle, txn, &fds, prio, forced, fx) {
            Ok(()) => {}
            Err(how) => {
                if !fds.is_empty() {
                    fx.push(Effect::CloseFds(fds));
                }
                self.fail_to(thread, id, how, fx);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn try_transact(
        &mut self,
        id: TxnId,
        thread: ThreadId,
        handle: Handle,
        txn: TxnOut,
        fds: &[FdSlot],
        prio: Option<Priority>,
        forced: Option<ThreadId>,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Fail> {
        let th = self.threads.get(thread.0).expect("caller checked");
        let from = th.proc;
        let oneway = txn.flags.oneway();
        let top = th.top;
        // The server thread trusts the flag to mean its direct call was
        // adopted: only `adopt_direct` may set it (and checks the rest).
        if txn.flags.adopted() && (forced.is_none() || oneway) {
            return Err(Fail::Failed(Failure::DirectUnavailable(
                "TxnFlags::ADOPTED is the mediator's: only AdoptDirect makes such a call".into(),
            )));
        }
        if !oneway {
            if let Some(t) = top {
                let serving = self
                    .txns
                    .get(t)
                    .is_some_and(|t| t.to_thread == Some(thread));
                if !serving {
                    return Err(Fail::Failed(Failure::ThreadBusy(t.id)));
                }
            }
        }
        let node_id = self.resolve_target(from, handle).map_err(Fail::Failed)?;
        let node = self.nodes.get(node_id.0).expect("resolved");
        if let Some(topic) = node.topic {
            return self.publish(id, thread, topic, txn, fds, prio, fx);
        }
        let Some(to) = node.owner else {
            return Err(Fail::Dead);
        };
        let accepts_fds = node.flags.accepts_fds;
        let sender_proc = self.procs.get(from.0).expect("live");
        // An adopted call is one the server already runs: it is answered
        // whatever the limits or a freeze say now (on the stacks, it then
        // holds a freeze off, as binder's would have).
        let adopted = forced.is_some();
        if sender_proc.pending_out >= self.limits.max_pending && !adopted {
            return Err(Fail::Failed(Failure::TooManyPending {
                pid: sender_proc.cred.pid,
                limit: self.limits.max_pending,
            }));
        }
        let sender_pid = sender_proc.cred.pid;
        let receiver = self.procs.get_mut(to.0).expect("owner is live");
        if receiver.frozen_or_held() && !oneway && !adopted {
            receiver.frozen_sync_recv = true;
            return Err(Fail::Frozen);
        }
        let sender_proc = self.procs.get(from.0).expect("live");
        check_payload(
            &txn,
            self.limits.send_area,
            &sender_proc.buffer,
            Side::Request,
        )
        .map_err(Fail::Failed)?;
        self.check_objects(from, to, &txn.objects, fds, accepts_fds, Side::Request)
            .map_err(Fail::Failed)?;
        // Binder's rule: a call into a process that is already on this
        // thread's stack goes to the thread waiting there.
        let mut target_thread = forced;
        if !oneway && forced.is_none() {
            let mut cur = top;
            while let Some(t) = cur.and_then(|c| self.txns.get(c)) {
                if let Some(f) = t.from {
                    if self.threads.get(f.0).is_some_and(|ft| ft.proc == to) && f != thread {
                        target_thread = Some(f);
                        break;
                    }
                }
                cur = t.from_parent;
            }
        }
        let receiver = self.procs.get_mut(to.0).expect("live");
        let offset = reserve_for(
            &mut receiver.buffer,
            &txn,
            oneway.then_some(node_id),
            sender_pid,
        )
        .map_err(|e| {
            Fail::Failed(self.alloc_failure(to, e, txn.data.len, oneway, Side::Request))
        })?;
        // No failure from here on: commit.
        let (objects, out_fds) = self.translate_objects(from, thread, to, &txn.objects, fds, fx);
        self.hold_carried(to, offset, &objects);
        copy_payload(thread, from, &txn, to, offset, fx);
        let sender = self.sender_of(thread, prio, txn.work_source);
        if let Some(now) = prio {
            // What the kernel says the thread runs at now, read with its
            // call: the record a later migration compares with. A thread
            // may change its own priority (lower it, always allowed), and
            // a stale record let a call skip the change it needed (binder
            // compares with the task's real priority every time).
            self.threads.get_mut(thread.0).expect("live").prio = now;
        }
        let p = self.procs.get_mut(from.0).expect("live");
        p.pending_out += 1;
        p.fds_in_flight += out_fds.len();
        p.counters.bytes_sent += txn.data.len;
        p.counters.bytes_spliced += spliced_len(&txn);
        if oneway {
            p.counters.oneway_sent += 1;
        } else {
            p.counters.calls_sent += 1;
        }
        let key = self.txns.insert(Transaction {
            id,
            code: txn.code,
            flags: txn.flags,
            from: (!oneway).then_some(thread),
            from_proc: from,
            sender,
            to_proc: to,
            to_thread: None,
            target: node_id,
            buffer: DataRange {
                offset,
                len: txn.data.len,
            },
            objects,
            fds: out_fds,
            from_parent: if oneway { None } else { top },
            to_parent: None,
            saved_prio: None,
            delivered: false,
            seq: None,
            lost: 0,
            counted: true,
        });
        self.nodes.get_mut(node_id.0).expect("live").txn_holds += 1;
        if oneway {
            self.check_spam(to, thread, sender_pid, fx);
            // A oneway sender learns its call was taken (and may reuse
            // its send area) from TransactionComplete. It goes out before
            // the call is handed on: the mediator may lose its CPU to the
            // thread the call wakes, and the sender, maybe on another
            // CPU, should not wait for that thread to run.
            fx.push(Effect::Deliver {
                thread,
                ret: Return::TransactionComplete,
                fds: Vec::new(),
            });
            self.enqueue_oneway(node_id, key, to, fx);
        } else {
            self.threads.get_mut(thread.0).expect("live").top = Some(key);
            match target_thread {
                Some(t) => self.deliver_txn(key, t, fx),
                None => self.queue_work(to, Work::Transaction(key), fx),
            }
            // A sync caller's TransactionComplete is implied by its reply
            // (binder defers it to the reply): not sending it saves the
            // caller a wakeup per call.
        }
        Ok(())
    }

    pub(crate) fn alloc_failure(
        &self,
        to: ProcId,
        e: crate::alloc::AllocError,
        size: u64,
        oneway: bool,
        side: Side,
    ) -> Failure {
        let p = self.procs.get(to.0).expect("live");
        match e {
            crate::alloc::AllocError::Full { largest_free } => Failure::BufferFull {
                side,
                size,
                pid: p.cred.pid,
                free: largest_free,
                total: p.buffer.size(),
                holders: p.buffer.top_holders(false),
            },
            crate::alloc::AllocError::AsyncFull { async_free } => Failure::AsyncSpaceFull {
                size,
                pid: p.cred.pid,
                free: async_free,
                limit: p.buffer.async_limit(),
                holders: p.buffer.top_holders(oneway),
            },
        }
    }

    /// Binder's oneway spam detection: when a receiver's async space runs
    /// low and one sender holds most of it, that sender is told.
    fn check_spam(&mut self, to: ProcId, thread: ThreadId, sender_pid: i32, fx: &mut Vec<Effect>) {
        let p = self.procs.get_mut(to.0).expect("live");
        let limit = p.buffer.async_limit();
        if p.spam_flagged || p.buffer.async_free() >= limit / 10 {
            return;
        }
        let (n, bytes) = p.buffer.async_held_by(sender_pid);
        if n > 50 || bytes > limit / 4 {
            p.spam_flagged = true;
            if let Some(sp) = self
                .threads
                .get(thread.0)
                .and_then(|t| self.procs.get_mut(t.proc.0))
            {
                sp.counters.spam_reports += 1;
            }
            fx.push(Effect::Deliver {
                thread,
                ret: Return::OnewaySpamSuspect,
                fds: Vec::new(),
            });
        }
    }

    /// Hands transaction `key` to `thread`: pushes it on the thread's stack
    /// (sync), migrates priority, commits the buffer, moves the fds.
    pub(crate) fn deliver_txn(&mut self, key: TxnKey, thread: ThreadId, fx: &mut Vec<Effect>) {
        let migrate = self.config.migrate_priority;
        let th = self.threads.get(thread.0).expect("live");
        let th_prio = th.prio;
        let th_top = th.top;
        let t = self.txns.get_mut(key).expect("queued txns exist");
        let oneway = t.oneway();
        t.delivered = true;
        let objects = std::mem::take(&mut t.objects);
        let fds = std::mem::take(&mut t.fds);
        let (to, from_proc, target) = (t.to_proc, t.from_proc, t.target);
        let mut new_prio = None;
        if !oneway {
            t.to_thread = Some(thread);
            t.to_parent = th_top;
        }
        if migrate {
            // Binder's `binder_transaction_priority`: a sync call brings its
            // caller's priority, a real-time one only where the node opted
            // in (else normal, nice 0); a oneway call brings none, the
            // thread keeps its own; either way never below the node's
            // minimum.
            let flags = self.nodes.get(target.0).map(|n| n.flags);
            let min = flags.and_then(|f| f.min_priority);
            let inherit_rt = flags.is_some_and(|f| f.inherit_rt);
            let caller = t.sender.priority.filter(|_| !oneway).map(|c| {
                if c.is_realtime() && !inherit_rt {
                    Priority::default()
                } else {
                    c
                }
            });
            let want = match (caller, min) {
                (Some(c), Some(m)) if m.rank() > c.rank() => Some(m),
                (Some(c), _) => Some(c),
                (None, m) => m.filter(|m| m.rank() > th_prio.rank()),
            };
            if let Some(w) = want.filter(|w| *w != th_prio) {
                // A oneway call's is put back when the thread next asks
                // for work (`Thread::oneway_saved`), there being no reply.
                if !oneway {
                    t.saved_prio = Some(th_prio);
                }
                new_prio = Some(w);
            }
        }
        let ret = TxnIn {
            id: key.id,
            target: self.nodes.get(target.0).map(|n| (n.ptr, n.cookie)),
            code: t.code,
            flags: t.flags,
            sender: t.sender.clone(),
            buffer: t.buffer,
            objects,
            seq: t.seq,
            lost: t.lost,
        };
        if let Some(p) = self.procs.get_mut(to.0) {
            p.buffer.commit(ret.buffer.offset);
            p.counters.calls_received += 1;
        }
        if let Some(p) = self.procs.get_mut(from_proc.0) {
            p.fds_in_flight -= fds.len();
        }
        let th = self.threads.get_mut(thread.0).expect("live");
        if !oneway {
            th.top = Some(key);
        }
        if oneway && new_prio.is_some() {
            match th.oneway_saved {
                // Raised by an earlier oneway call and not yet back asking
                // for work: undo that first, so that one restore undoes both.
                Some(first) => fx.push(Effect::RestorePriority {
                    thread,
                    tid: th.tid,
                    prio: first,
                }),
                None => th.oneway_saved = Some(th_prio),
            }
        }
        if let Some(w) = new_prio {
            th.prio = w;
            fx.push(Effect::SetPriority {
                thread,
                tid: th.tid,
                prio: w,
            });
        }
        fx.push(Effect::Deliver {
            thread,
            ret: Return::Transaction(self.boxed(ret)),
            fds,
        });
        if oneway {
            // Nobody waits on a oneway call: its record ends at delivery;
            // the buffer range keeps the node's queue in order until freed.
            self.remove_txn(key, fx);
        }
    }

    /// Removes a transaction record: releases its node hold and pending
    /// count, and anything it still carries if it was never delivered.
    pub(crate) fn remove_txn(&mut self, id: TxnKey, fx: &mut Vec<Effect>) -> Option<Transaction> {
        let mut t = self.txns.remove(id)?;
        if let Some(p) = self.procs.get_mut(t.from_proc.0) {
            if t.counted {
                p.pending_out -= 1;
            }
            p.fds_in_flight -= t.fds.len();
        }
        if !t.delivered {
            let objects = std::mem::take(&mut t.objects);
            self.release_objects(t.to_proc, &objects, fx);
            if let Some(p) = self.procs.get_mut(t.to_proc.0) {
                if let Some(r) = p.buffer.free(t.buffer.offset) {
                    zero_if_sensitive(t.to_proc, t.buffer.offset, &r, fx);
                    self.release_carried(r, fx);
                }
            }
        }
        if !t.fds.is_empty() {
            fx.push(Effect::CloseFds(std::mem::take(&mut t.fds)));
        }
        if let Some(n) = self.nodes.get_mut(t.target.0) {
            n.txn_holds -= 1;
        }
        self.update_node(t.target, crate::node::NoticeTo::Queue, fx);
        Some(t)
    }

    /// The sync call on top of `thread`'s stack, which its next `Reply`
    /// answers.
    fn answering(&self, thread: ThreadId) -> Option<TxnKey> {
        let th = self.threads.get(thread.0)?;
        th.top.filter(|&t| {
            self.txns
                .get(t)
                .is_some_and(|t| t.to_thread == Some(thread) && !t.oneway())
        })
    }

    /// A `Reply` refused before the core saw it (see [`Core::refuse`]):
    /// the call it answers fails with `failure`, as a reply the core
    /// cannot deliver does.
    pub(crate) fn reply_refused(
        &mut self,
        thread: ThreadId,
        failure: Failure,
        fx: &mut Vec<Effect>,
    ) {
        let Some(id) = self.answering(thread) else {
            self.error(thread, failure, fx);
            return;
        };
        self.pop_served(thread, id, fx);
        if let Some(p) = self
            .threads
            .get(thread.0)
            .and_then(|t| self.procs.get_mut(t.proc.0))
        {
            p.counters.errors += 1;
        }
        self.send_failed_reply(id, Fail::Failed(failure), fx);
    }

    /// `Reply`: answers the call on top of `thread`'s stack.
    pub(crate) fn reply(
        &mut self,
        thread: ThreadId,
        txn: TxnOut,
        fds: Vec<FdSlot>,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let replier = self.threads.get(thread.0).expect("caller checked").proc;
        let Some(id) = self.answering(thread) else {
            if !fds.is_empty() {
                fx.push(Effect::CloseFds(fds));
            }
            return Err(Failure::NoTransactionToReply);
        };
        self.pop_served(thread, id, fx);
        if let Some(p) = self.procs.get_mut(replier.0) {
            p.counters.replies_sent += 1;
        }
        // The replier's part is done whatever happens to the reply: the
        // caller gets any error. Unlike binder (whose replier reads its
        // TransactionComplete in the same ioctl), a separate message would
        // cost the replier a wakeup per call, so none is sent.
        let t = self.txns.get(id).expect("checked");
        let Some(caller) = t.from else {
            if !fds.is_empty() {
                fx.push(Effect::CloseFds(fds));
            }
            self.send_failed_reply(id, Fail::Dead, fx);
            return Ok(());
        };
        let accept_fds = t.flags.accept_fds();
        let caller_proc = self.threads.get(caller.0).expect("live").proc;
        let replier_buffer = &self.procs.get(replier.0).expect("live").buffer;
        let check = check_payload(&txn, self.limits.send_area, replier_buffer, Side::Reply)
            .and_then(|()| {
                self.check_objects(
                    replier,
                    caller_proc,
                    &txn.objects,
                    &fds,
                    accept_fds,
                    Side::Reply,
                )
            });
        let replier_pid = self.procs.get(replier.0).expect("live").cred.pid;
        let offset = check.and_then(|()| {
            let cp = self.procs.get_mut(caller_proc.0).expect("live");
            reserve_for(&mut cp.buffer, &txn, None, replier_pid)
                .map_err(|e| self.alloc_failure(caller_proc, e, txn.data.len, false, Side::Reply))
        });
        let offset = match offset {
            Ok(o) => o,
            Err(e) => {
                if !fds.is_empty() {
                    fx.push(Effect::CloseFds(fds));
                }
                if let Some(p) = self.procs.get_mut(replier.0) {
                    p.counters.errors += 1;
                }
                self.send_failed_reply(id, Fail::Failed(e), fx);
                return Ok(());
            }
        };
        let (objects, out_fds) =
            self.translate_objects(replier, thread, caller_proc, &txn.objects, &fds, fx);
        self.hold_carried(caller_proc, offset, &objects);
        copy_payload(thread, replier, &txn, caller_proc, offset, fx);
        if let Some(p) = self.procs.get_mut(replier.0) {
            p.counters.bytes_spliced += spliced_len(&txn);
        }
        // A reply carries no work source (libbinder's is in the call's
        // interface token only).
        let sender = self.sender_of(thread, None, None);
        let cp = self.procs.get_mut(caller_proc.0).expect("live");
        cp.buffer.commit(offset);
        let t = self.remove_txn(id, fx).expect("checked");
        self.threads.get_mut(caller.0).expect("live").top = t.from_parent;
        fx.push(Effect::Deliver {
            thread: caller,
            ret: Return::Reply(self.boxed(TxnIn {
                id: id.id,
                target: None,
                code: t.code,
                // The replier's flags: the runtime marks a reply whose
                // payload travels in a blob, for instance.
                flags: TxnFlags(txn.flags.0 & !TxnFlags::ONEWAY),
                sender,
                buffer: DataRange {
                    offset,
                    len: txn.data.len,
                },
                objects,
                seq: None,
                lost: 0,
            })),
            fds: out_fds,
        });
        Ok(())
    }

    /// Pops `id` off the stack of the thread serving it, restoring the
    /// priority it had before the call.
    fn pop_served(&mut self, thread: ThreadId, id: TxnKey, fx: &mut Vec<Effect>) {
        let t = self.txns.get_mut(id).expect("served txn exists");
        let (parent, saved) = (t.to_parent, t.saved_prio.take());
        t.to_thread = None;
        let th = self.threads.get_mut(thread.0).expect("live");
        th.top = parent;
        if let Some(p) = saved {
            th.prio = p;
            fx.push(Effect::RestorePriority {
                thread,
                tid: th.tid,
                prio: p,
            });
        }
    }

    /// Sends `how` to whoever waits for `id`. If its caller is gone, the
    /// failure travels on to the call that caller was serving (binder's
    /// `binder_send_failed_reply`), so a chain broken anywhere unwinds.
    pub(crate) fn send_failed_reply(&mut self, mut id: TxnKey, how: Fail, fx: &mut Vec<Effect>) {
        loop {
            let Some(t) = self.remove_txn(id, fx) else {
                return;
            };
            if let Some(to_thread) = t.to_thread {
                // Still on a live server's stack (only when a call is
                // cancelled from the caller's side): take it off.
                if self
                    .threads
                    .get(to_thread.0)
                    .is_some_and(|th| th.top == Some(id))
                {
                    let th = self.threads.get_mut(to_thread.0).expect("live");
                    th.top = t.to_parent;
                }
            }
            if let Some(caller) = t.from.filter(|c| self.threads.get(c.0).is_some()) {
                let th = self.threads.get_mut(caller.0).expect("checked");
                if th.top == Some(id) {
                    th.top = t.from_parent;
                }
                self.fail_to(caller, id.id, how, fx);
                return;
            }
            match t.from_parent {
                Some(next) if !t.oneway() => id = next,
                _ => return,
            }
        }
    }

    /// Drops a call that was never delivered: a sync caller gets a dead
    /// reply, a oneway call just goes.
    pub(crate) fn cancel_txn(&mut self, id: TxnKey, fx: &mut Vec<Effect>) {
        let Some(t) = self.txns.get(id) else { return };
        if t.oneway() {
            self.remove_txn(id, fx);
        } else {
            self.send_failed_reply(id, Fail::Dead, fx);
        }
    }

    /// Unwinds a dying thread's stack (binder's `binder_thread_release`):
    /// calls it was serving lose their server, calls it made lose their
    /// caller, and the call it was serving on top gets a dead reply.
    pub(crate) fn unwind_stack(&mut self, thread: ThreadId, fx: &mut Vec<Effect>) {
        let th = self.threads.get_mut(thread.0).expect("live");
        let top = th.top.take();
        // The call to fail at once: the highest one this thread served,
        // unless a call it made above it was delivered (that call's reply,
        // or its failure, will carry the dead reply down the chain).
        let mut served_top = None;
        let mut blocked = false;
        let mut cur = top;
        let mut undelivered = Vec::new();
        while let Some(id) = cur {
            let Some(t) = self.txns.get_mut(id) else {
                break;
            };
            if t.to_thread == Some(thread) {
                t.to_thread = None;
                if served_top.is_none() && !blocked {
                    served_top = Some(id);
                }
                cur = t.to_parent;
            } else if t.from == Some(thread) {
                t.from = None;
                if t.delivered {
                    blocked = true;
                } else {
                    undelivered.push((id, t.to_proc));
                }
                cur = t.from_parent;
            } else {
                debug_assert!(false, "{id} on a stack it does not belong to");
                break;
            }
        }
        // Calls it made that nobody picked up yet: nobody will read the
        // reply, so they go now (binder would deliver them to no one).
        for (id, to) in undelivered {
            if let Some(p) = self.procs.get_mut(to.0) {
                p.todo
                    .retain(|w| !matches!(w, Work::Transaction(t) if *t == id));
            }
            self.remove_txn(id, fx);
        }
        if let Some(id) = served_top {
            if self.txns.contains(id) {
                self.send_failed_reply(id, Fail::Dead, fx);
            }
        }
    }

    /// `FreeBuffer`: the process is done with a delivered range. For a
    /// oneway call this lets the node's next oneway call through.
    pub(crate) fn free_buffer(
        &mut self,
        proc_id: ProcId,
        offset: u64,
        fx: &mut Vec<Effect>,
    ) -> Result<(), Failure> {
        let p = self.procs.get_mut(proc_id.0).expect("live");
        match p.buffer.get(offset) {
            Some(r) if r.delivered => {}
            _ => return Err(Failure::BadFree(offset)),
        }
        let r = p.buffer.free(offset).expect("checked");
        zero_if_sensitive(proc_id, offset, &r, fx);
        if p.spam_flagged && p.buffer.async_free() >= p.buffer.async_limit() / 2 {
            p.spam_flagged = false;
        }
        let oneway_node = r.oneway_node;
        self.release_carried(r, fx);
        if let Some(node_id) = oneway_node {
            self.oneway_done(node_id, fx);
        }
        Ok(())
    }

    /// Holds each node of `to` that `objects` (a call's, as `to` receives
    /// it, in its buffer at `offset`) carry back to it, until the buffer
    /// is freed: as binder's transaction buffer holds every node it names,
    /// the owner is not told to let go of an object while a call bringing
    /// it back is on its way (the call would find it unexported).
    fn hold_carried(&mut self, to: ProcId, offset: u64, objects: &[Object]) {
        if objects.is_empty() {
            return;
        }
        let Some(p) = self.procs.get(to.0) else {
            return;
        };
        let carried: Box<[NodeId]> = objects
            .iter()
            .filter_map(|o| match o {
                Object::Binder { ptr, .. } => p.nodes.get(ptr).copied(),
                _ => None,
            })
            .collect();
        if carried.is_empty() {
            return;
        }
        for n in carried.iter() {
            if let Some(n) = self.nodes.get_mut(n.0) {
                n.buffer_holds += 1;
            }
        }
        if let Some(p) = self.procs.get_mut(to.0) {
            p.buffer.set_carried(offset, carried);
        }
    }

    /// A freed range lets go of the nodes its call carried back.
    fn release_carried(&mut self, r: crate::alloc::Range, fx: &mut Vec<Effect>) {
        for &id in r.carried.iter().flatten() {
            if let Some(n) = self.nodes.get_mut(id.0) {
                n.buffer_holds = n.buffer_holds.saturating_sub(1);
            }
            self.update_node(id, crate::node::NoticeTo::Queue, fx);
        }
    }

    /// Queues a oneway call behind the node's call in flight, or starts it
    /// when the node has none (binder's per-node async ordering).
    pub(crate) fn enqueue_oneway(
        &mut self,
        node_id: NodeId,
        id: TxnKey,
        to: ProcId,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(p) = self.procs.get_mut(to.0).filter(|p| p.frozen_or_held()) {
            p.frozen_async_recv = true;
        }
        let n = self.nodes.get_mut(node_id.0).expect("target node is held");
        if n.oneway.busy {
            n.oneway.queue.push_back(id);
        } else {
            n.oneway.busy = true;
            self.queue_work(to, Work::Transaction(id), fx);
        }
    }

    /// The node's oneway call in flight finished: start the next.
    fn oneway_done(&mut self, node_id: NodeId, fx: &mut Vec<Effect>) {
        let Some(n) = self.nodes.get_mut(node_id.0) else {
            return;
        };
        n.oneway.busy = false;
        if let (Some(owner), Some(next)) = (n.owner, n.oneway.queue.pop_front()) {
            n.oneway.busy = true;
            self.queue_work(owner, Work::Transaction(next), fx);
        }
        self.update_node(node_id, crate::node::NoticeTo::Queue, fx);
    }
}

/// A freed range whose payload was sensitive (binder's `TF_CLEAR_BUF`) is
/// zeroed, before anything can be copied into it again.
fn zero_if_sensitive(to: ProcId, offset: u64, r: &Range, fx: &mut Vec<Effect>) {
    if r.clear {
        fx.push(Effect::Zero {
            to,
            offset,
            len: r.len,
        });
    }
}

/// Reserves the range `txn`'s payload takes in `buffer`: placed by
/// [`placement`], and zeroed when freed if the sender marked it sensitive.
pub(crate) fn reserve_for(
    buffer: &mut RecvBuffer,
    txn: &TxnOut,
    oneway_node: Option<NodeId>,
    sender_pid: i32,
) -> Result<u64, crate::alloc::AllocError> {
    buffer.reserve_at_phase(
        txn.data.len,
        oneway_node,
        sender_pid,
        placement(txn),
        txn.flags.clear_buf(),
    )
}
