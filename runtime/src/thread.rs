//! The calling thread's side of binder (libbinder's `IPCThreadState`).
//!
//! Every OS thread that calls gets its own thread channel on first use,
//! kept in a thread-local whose destructor closes it (the mediator takes
//! the close as the thread's exit). A thread waiting for a reply runs the
//! nested calls aimed at it; pool threads (`looper`) also take the
//! process's work. Acknowledgements and buffer frees wait in `pending` and
//! ride on the thread's next write.

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use capbinder_core::{
    Command, DataRange, Handle, Object, Return, Rights, Splice, TxnFlags, TxnIn, TxnOut,
};
use capbinder_kmod_shim::device::{DeviceError, ThreadChannel};
use capbinder_kmod_shim::sys::memfd::{create_blob, Mapping};

use crate::binder::{
    LocalObject, Proxy, DUMP_TRANSACTION, EXTENSION_TRANSACTION, INTERFACE_TRANSACTION,
    PING_TRANSACTION,
};
use crate::identity::{self, CallingIdentity};
use crate::oneway::{OnewayFailures, Window};
use crate::parcel::{Outgoing, Parcel, Slot};
use crate::process::{ProcessState, SendGuard};
use crate::status::{ExceptionCode, Result, Status, StatusCode};

struct ThreadState {
    chan: ThreadChannel,
    pending: Vec<Command>,
    pending_fds: Vec<OwnedFd>,
    process: Arc<ProcessState>,
    /// Oneway calls sent and not yet answered (see `oneway`).
    oneway: Window<InFlight>,
    /// Serves calls from its owner's event loop
    /// ([`setup_polling`](ProcessState::setup_polling)): it takes process
    /// work with `TakeWork`, and a write of its own that waits for nothing
    /// ends with `WaitForWork`, so that it is woken when work comes.
    polling: bool,
    /// A polled thread is serving an item it took: it stays busy in the
    /// mediator until it asks for the next (its writes do not end with
    /// `WaitForWork`), so no work is taken, and no wake-up asked for,
    /// while a handler runs.
    serving: bool,
    /// A polled thread's `TakeWork` is unanswered: nothing is written
    /// until its answer is read (a write could end with `WaitForWork`
    /// while the mediator has already handed it an item).
    taking: bool,
    /// A pool thread waits for work in the mediator (its last write ended
    /// with `WaitForWork`, and no work came since): whatever it writes
    /// meanwhile (a release posted by a settled oneway call) must end
    /// with `WaitForWork` too, or the mediator takes it for busy and
    /// never hands it work again.
    waiting: bool,
}

/// What a oneway call in flight holds until its answer is read: its proxy
/// (marked dead by a dead reply) and what its send must outlive.
struct InFlight {
    proxy: Arc<Proxy>,
    _guards: Vec<SendGuard>,
    _keep: Keep,
}

impl ThreadState {
    /// Writes what is pending (and any deferred commands).
    fn flush(&mut self) -> Result<()> {
        self.flush_ending(None, false)
    }

    /// [`flush`](Self::flush) for a write that waits for no answer: a
    /// polled thread ends it with `WaitForWork`, since any write makes a
    /// thread busy in the mediator, and it waits again (to be woken when
    /// work comes).
    fn flush_free(&mut self) -> Result<()> {
        self.flush_ending(self.idle_command(), false)
    }

    /// What ends a write of a polled thread that is not serving: it waits
    /// for work again.
    fn idle_command(&self) -> Option<Command> {
        ((self.polling && !self.serving) || self.waiting).then_some(Command::WaitForWork)
    }

    /// After a call or command of a polled thread's own was answered (the
    /// write that sent it made the thread busy): it waits again.
    fn free(&mut self) -> Result<()> {
        self.flush_ending(self.idle_command(), true)
    }

    /// Writes what is pending, deferred commands included, and then `last`
    /// (after them: a command after `WaitForWork` or `TakeWork` would make
    /// the thread busy again): when anything is written, or `always`.
    fn flush_ending(&mut self, last: Option<Command>, always: bool) -> Result<()> {
        let _ = DEFERRED.try_with(|d| self.pending.append(&mut d.borrow_mut()));
        let failed = self.process.take_failed_spawns();
        if failed > 0 {
            // First, not last: a write must end with its `WaitForWork`.
            self.pending
                .splice(0..0, (0..failed).map(|_| Command::SpawnFailed));
        }
        if let Some(c) = last {
            if (always || !self.pending.is_empty()) && self.pending.last() != Some(&c) {
                self.pending.push(c);
            }
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let fds: Vec<_> = self.pending_fds.iter().map(|f| f.as_fd()).collect();
        let r = self.chan.write(&self.pending, &fds);
        self.pending.clear();
        self.pending_fds.clear();
        r.map_err(|e| lost(&self.process, e))
    }
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        if self.polling {
            // Its poll fd may outlive it: the mediator must stop waking it.
            self.pending.push(Command::ExitLooper);
        }
        let _ = self.flush();
        // What calls in flight hold (their local objects' exports) must
        // outlive the mediator's handling of them: their answers come
        // before anything else sent to this thread after them. The
        // notices their sends caused come before them too: a reference
        // the mediator asks for is taken and acknowledged, else the
        // object would be unexported while its receiver holds it.
        while !self.oneway.is_empty() {
            match self.chan.read() {
                Ok((ret, _)) if answers_a_call(&ret) => drop(self.oneway.answered()),
                Ok((
                    ret @ (Return::IncRefs { .. }
                    | Return::Acquire { .. }
                    | Return::Release { .. }
                    | Return::DecRefs { .. }),
                    _,
                )) => {
                    if let Some(ack) = self.process.on_ref_notice(&ret) {
                        self.pending.push(ack);
                    }
                }
                Ok((Return::SpawnLooper, _)) => self.process.spawn_pooled_thread(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The acknowledgements, and what the answered calls' drops posted
        // (their releases).
        let _ = self.flush();
    }
}

/// Whether `ret` is the mediator's answer to a call of this thread's that
/// waits for no reply: accepted, or failed.
fn answers_a_call(ret: &Return) -> bool {
    matches!(
        ret,
        Return::TransactionComplete
            | Return::FailedReply { .. }
            | Return::DeadReply { .. }
            | Return::FrozenReply { .. }
    )
}

thread_local! {
    static TS: RefCell<Option<ThreadState>> = const { RefCell::new(None) };
    /// Commands posted while the thread state was busy (a proxy dropped
    /// inside a runtime operation); they ride on the next write.
    static DEFERRED: RefCell<Vec<Command>> = const { RefCell::new(Vec::new()) };
}

fn lost(process: &ProcessState, e: DeviceError) -> Status {
    if matches!(e, DeviceError::Closed) {
        process.connection_lost();
    }
    Status::from(e)
}

/// Runs `f` with this thread's state, registering the thread first.
fn with_ts<R>(
    process: &Arc<ProcessState>,
    f: impl FnOnce(&mut ThreadState) -> Result<R>,
) -> Result<R> {
    // Touched first, so that it is destroyed after `TS` when the thread
    // ends (thread-locals go in the reverse order of their first use):
    // `ThreadState`'s drop writes what was deferred.
    let _ = DEFERRED.try_with(|_| ());
    TS.with(|cell| {
        let mut b = cell.try_borrow_mut().map_err(|_| {
            Status::from_code(
                StatusCode::InvalidOperation,
                "re-entrant use of the thread's binder state",
            )
        })?;
        if b.is_none() {
            if process.is_lost() {
                return Err(Status::dead(
                    "the connection to the mediator is lost: every remote object is dead",
                ));
            }
            let chan = process.dev.register_thread()?;
            *b = Some(ThreadState {
                chan,
                pending: Vec::new(),
                pending_fds: Vec::new(),
                process: process.clone(),
                oneway: Window::default(),
                polling: false,
                serving: false,
                taking: false,
                waiting: false,
            });
        }
        f(b.as_mut().expect("set above"))
    })
}

/// The next return that is not the answer to a oneway call in flight
/// (those are settled on the way).
fn read(process: &Arc<ProcessState>) -> Result<(Return, Vec<OwnedFd>)> {
    loop {
        if let Some(r) = read_one(process)? {
            return Ok(r);
        }
    }
}

/// Reads one return: the answer to the oldest oneway call in flight is
/// settled here (`None`), anything else is returned.
fn read_one(process: &Arc<ProcessState>) -> Result<Option<(Return, Vec<OwnedFd>)>> {
    let (ret, fds, done) = with_ts(process, |ts| {
        let (ret, fds) = ts.chan.read().map_err(|e| lost(process, e))?;
        let done = if answers_a_call(&ret) {
            ts.oneway.answered()
        } else {
            None
        };
        // A waiting pool thread is handed work by anything but an answer,
        // a spawn request or an error: it is busy in the mediator now.
        if ts.waiting
            && !answers_a_call(&ret)
            && !matches!(ret, Return::SpawnLooper | Return::Error(_))
        {
            ts.waiting = false;
        }
        Ok((ret, fds, done))
    })?;
    let Some(done) = done else {
        return Ok(Some((ret, fds)));
    };
    let failure = match ret {
        Return::DeadReply { id } => Some(Status::dead(format!(
            "{id}: the target died before it took the oneway call"
        ))),
        Return::FailedReply { id, error } => Some(failure_status(Some(id), &error)),
        Return::FrozenReply { id } => Some(Status::from_code(
            StatusCode::Frozen,
            format!("{id}: the target process is frozen"),
        )),
        _ => None,
    };
    if let Some(status) = failure {
        tracing::debug!("a oneway call in flight failed: {status}");
        // As a call that waited: a dead object's proxy is dead at once.
        if status.code == StatusCode::DeadObject && done.proxy.handle != Handle::CONTEXT_MANAGER {
            done.proxy
                .dead
                .store(true, std::sync::atomic::Ordering::Release);
        }
        with_ts(process, |ts| {
            ts.oneway.failed(status);
            Ok(())
        })?;
    }
    // Its guards and binders go outside the thread state: a drop may post.
    drop(done);
    Ok(None)
}

/// Reads one return, settling it if it answers a oneway call in flight
/// and handling it as `handle_other` does if not.
fn settle_one(process: &Arc<ProcessState>) -> Result<()> {
    match read_one(process)? {
        Some((ret, fds)) => handle_other(process, ret, fds),
        None => Ok(()),
    }
}

/// Waits until every oneway call this thread has in flight is answered.
fn settle_all(process: &Arc<ProcessState>) -> Result<()> {
    while !with_ts(process, |ts| Ok(ts.oneway.is_empty()))? {
        settle_one(process)?;
    }
    Ok(())
}

/// Runs `f` with this thread's state and `arg` (what it sends) once the
/// oneway calls in flight leave room for it: `f` hands `arg` back
/// (`Ok(Err(arg))`) while they do not, and answers are read, outside the
/// state, until they do. One borrow of the state when nothing is in
/// flight, as before there were windows.
fn with_room<T, R>(
    process: &Arc<ProcessState>,
    mut arg: T,
    mut f: impl FnMut(&mut ThreadState, T) -> Result<std::result::Result<R, T>>,
) -> Result<R> {
    loop {
        match with_ts(process, |ts| f(ts, arg))? {
            Ok(r) => return Ok(r),
            Err(back) => {
                arg = back;
                settle_one(process)?;
            }
        }
    }
}

/// Waits for this thread's oneway calls in flight; the failures among
/// those sent since the last flush (see `ProcessState::flush_oneway_calls`).
pub(crate) fn flush_oneway(process: &Arc<ProcessState>) -> Result<Option<OnewayFailures>> {
    settle_all(process)?;
    with_ts(process, |ts| {
        // The acknowledgements gathered while settling go now: the
        // mediator holds back a release until it has them.
        ts.flush_free()?;
        Ok(ts.oneway.take_failures())
    })
}

/// Sends commands that expect no answer, now (or with the next write if
/// this thread's state is busy).
pub(crate) fn post(process: &Arc<ProcessState>, cmds: Vec<Command>) {
    let done = TS
        .try_with(|cell| {
            if cell.try_borrow_mut().is_err() {
                return false;
            }
            // A failed write means the connection is lost; the commands
            // are moot then, so they count as handled.
            let _ = with_ts(process, |ts| {
                ts.pending.extend(cmds.iter().cloned());
                if ts.taking {
                    // With the next write, after the `TakeWork`'s answer.
                    return Ok(());
                }
                ts.flush_free()
            });
            true
        })
        .unwrap_or(false);
    if !done {
        let _ = DEFERRED.try_with(|d| d.borrow_mut().extend(cmds));
    }
}

/// Sends `cmd` and waits until the mediator has applied it: a `DumpState`
/// follows as a barrier, so an `Error` that comes first is this command's.
pub(crate) fn command(process: &Arc<ProcessState>, cmd: Command) -> Result<()> {
    until_barrier(process, cmd, |_| false).map(drop)
}

/// Sends `RequestDirect` and returns its answer (`DirectGranted`, its fd
/// attached, or `DirectRefused`); `None` if the mediator refused the
/// command itself.
pub(crate) fn request_direct(
    process: &Arc<ProcessState>,
    handle: Handle,
) -> Result<Option<(Return, Vec<OwnedFd>)>> {
    until_barrier(process, Command::RequestDirect { handle }, |r| {
        matches!(
            r,
            Return::DirectGranted { .. } | Return::DirectRefused { .. }
        )
    })
}

/// Sends `cmd`, then a `DumpState` as a barrier, and reads up to the
/// barrier's answer: the first return `wanted` picks comes back, with its
/// fds. An `Error` before the barrier is taken for the command's (the
/// first one, and only when `wanted` picked nothing: a stray one for an
/// earlier posted command may come first); anything else is handled as
/// usual.
fn until_barrier(
    process: &Arc<ProcessState>,
    cmd: Command,
    wanted: impl Fn(&Return) -> bool,
) -> Result<Option<(Return, Vec<OwnedFd>)>> {
    let barrier = !matches!(cmd, Command::DumpState);
    with_ts(process, |ts| {
        ts.pending.push(cmd);
        if barrier {
            ts.pending.push(Command::DumpState);
        }
        ts.flush()
    })?;
    let (mut answer, mut error) = (None, None);
    loop {
        let (ret, fds) = read(process)?;
        match ret {
            // A dump too large to send still marks the point.
            Return::State(_) | Return::Error(capbinder_core::Failure::StateTooLarge { .. })
                if barrier =>
            {
                with_ts(process, |ts| ts.free())?;
                return match (answer, error) {
                    (None, Some(e)) => Err(e),
                    (answer, _) => Ok(answer),
                };
            }
            Return::Error(e) => {
                if error.is_none() {
                    error = Some(failure_status(None, &e));
                }
            }
            ret if answer.is_none() && wanted(&ret) => answer = Some((ret, fds)),
            other => handle_other(process, other, fds)?,
        }
    }
}

/// The caller's side of an adoption: tells the mediator, then waits for
/// the call's answer as for any call.
pub(crate) fn adopt_and_wait(
    process: &Arc<ProcessState>,
    handle: Handle,
    server_tid: i32,
) -> Result<Parcel> {
    with_ts(process, |ts| {
        ts.pending.push(Command::AdoptDirect { handle, server_tid });
        ts.flush()
    })?;
    let result = wait_for_reply(process, false);
    let _ = with_ts(process, |ts| ts.free());
    result
}

/// The server's side of an adoption: `ask` asks the caller, then this
/// waits on the thread's own channel for the adopted call (returning its
/// ID), serving whatever else comes, or for the direct channel `direct`
/// to close (the caller ended, or its adoption failed).
pub(crate) fn await_adoption(
    process: &Arc<ProcessState>,
    direct: std::os::fd::BorrowedFd<'_>,
    ask: impl FnOnce() -> Result<()>,
) -> Result<capbinder_core::TxnId> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mine = with_ts(process, |ts| {
        ts.flush()?;
        ts.chan.poll_fd().map_err(|e| lost(process, e))
    })?;
    ask()?;
    // Readable without a hang-up is a revocation that still lets the
    // caller adopt (a freeze): from then on only a hang-up (the caller
    // gone, or it gave up on the adoption and shut the channel) counts.
    let mut watch = PollFlags::IN;
    loop {
        let mut fds = [
            PollFd::new(&mine, PollFlags::IN),
            PollFd::new(&direct, watch),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(Status::from_code(
                    StatusCode::UnknownError,
                    format!("waiting for an adoption: poll: {e}"),
                ))
            }
        }
        let hung_up = PollFlags::HUP | PollFlags::ERR;
        let (thread_ready, direct) = (!fds[0].revents().is_empty(), fds[1].revents());
        let direct_ready = direct.intersects(hung_up);
        if !direct.is_empty() && !direct_ready {
            watch = PollFlags::empty();
        }
        if thread_ready {
            // One return: a settled oneway answer sends this back to
            // `poll`, still watching the direct channel, not into a
            // blocking read.
            let Some((ret, fds)) = read_one(process)? else {
                continue;
            };
            match ret {
                Return::Transaction(tx) if tx.flags.adopted() => {
                    let id = tx.id;
                    // Empty; its range is freed with it.
                    drop(receive(process, &tx, fds));
                    recycle(tx);
                    return Ok(id);
                }
                other => handle_other(process, other, fds)?,
            }
        } else if direct_ready {
            return Err(Status::dead(
                "the direct caller went away before its call was adopted",
            ));
        }
    }
}

/// Sends the reply to the call `id` this thread serves (on its stack in
/// the mediator) and waits until it is out.
pub(crate) fn send_reply(process: &Arc<ProcessState>, reply: Parcel, id: capbinder_core::TxnId) {
    queue_reply(process, reply, id, true);
}

/// Sends `cmd` and returns the first answer that is not a notice.
pub(crate) fn request(process: &Arc<ProcessState>, cmd: Command) -> Result<Return> {
    with_ts(process, |ts| {
        ts.pending.push(cmd);
        ts.flush()
    })?;
    loop {
        let (ret, fds) = read(process)?;
        match ret {
            Return::State(_) | Return::Error(_) | Return::TopicCreated { .. } => {
                with_ts(process, |ts| ts.free())?;
                return Ok(ret);
            }
            other => handle_other(process, other, fds)?,
        }
    }
}

fn failure_status(id: Option<capbinder_core::TxnId>, e: &capbinder_core::Failure) -> Status {
    use capbinder_core::Failure as F;
    let code = match e {
        F::BadHandle(_) | F::NoContextManager => StatusCode::DeadObject,
        F::NoRight { .. } | F::NotPrivileged(_) | F::ContextManagerDenied { .. } => {
            StatusCode::PermissionDenied
        }
        F::FdsNotAccepted { .. } => StatusCode::FdsNotAllowed,
        F::ContextManagerTaken(_) => StatusCode::AlreadyExists,
        // Binder's BINDER_FREEZE fails with -EAGAIN, libbinder's WOULD_BLOCK.
        F::FreezeBusy { .. } => StatusCode::WouldBlock,
        _ => StatusCode::FailedTransaction,
    };
    match id {
        Some(id) => Status::from_code(code, format!("{id} failed: {e}")),
        None => Status::from_code(code, e.to_string()),
    }
}

/// What a sent parcel held that must outlive the write naming it, dropped
/// outside the thread state (a drop may post commands): its binders, so
/// their handles stay valid, and the received ranges it splices from, so
/// their `FreeBuffer` goes after the write.
#[derive(Default)]
struct Keep {
    binders: Vec<crate::binder::SpIBinder>,
    ranges: Vec<Arc<crate::parcel::Delivered>>,
}

/// Turns a parcel into what the mediator needs: the payload written into
/// the send area (or a sealed blob when large), the object table, the fds,
/// and guards that keep our local objects exported while the send is in
/// flight.
///
/// Every step that can fail comes before the thread state is touched: a
/// failure leaves no fd queued for the next write (it would travel with
/// an unrelated command) and no object exported.
fn prepare(
    ts: &mut ThreadState,
    code: u32,
    flags: u32,
    data: Parcel,
    at: usize,
) -> Result<(TxnOut, Vec<SendGuard>, Keep)> {
    let flags = if data.is_sensitive() {
        flags | TxnFlags::CLEAR_BUF
    } else {
        flags
    };
    // Checked before the bytes are taken out: refused, the parcel drops
    // whole, and a sensitive one zeroes its bytes as it goes.
    if let Some(i) = data.slots.iter().position(|s| matches!(s, Slot::Fd(None))) {
        return Err(Status::from_code(
            StatusCode::BadValue,
            format!("file descriptor {i} of this parcel was already read, so it cannot be sent"),
        ));
    }
    let (out, slots) = data.take_outgoing();
    let threshold = (ts.process.limits().blob_threshold as usize).min(ts.chan.send_area_len());
    let mut keep = Keep::default();
    let mut splices = Vec::new();
    let (range, blob) = match out {
        // Built where the mediator copies from: nothing to copy. Dropping
        // the lease here is as safe as the copy below: the write naming
        // the area goes out before this thread can touch the area again.
        Outgoing::InPlace(p) if p.lease.is_of(ts.chan.send_area()) && p.len <= threshold => {
            for s in p.splices {
                splices.push(Splice {
                    at: s.at as u64,
                    buffer: s.from.range().offset,
                    offset: s.offset as u64,
                    len: s.len as u64,
                });
                keep.ranges.push(s.from);
            }
            (inline(0, p.len), None)
        }
        Outgoing::InPlace(p) => place_payload(ts, &p.filled(), threshold, at)?,
        Outgoing::Bytes(b) => {
            let placed = place_payload(ts, &b, threshold, at);
            crate::parcel::reuse_buffer(b, flags & TxnFlags::CLEAR_BUF != 0);
            placed?
        }
    };
    check_counts(
        &slots,
        blob.is_some(),
        ts.pending_fds.len(),
        ts.process.limits(),
    )?;
    let mut objects = Vec::with_capacity(slots.len() + usize::from(blob.is_some()));
    let mut guards = Vec::new();
    for slot in slots {
        match slot {
            Slot::Binder(b, rights) => {
                objects.push(binder_object(ts, &b, rights, true, &mut guards));
                keep.binders.push(b);
            }
            Slot::Weak(b, rights) => {
                objects.push(binder_object(ts, &b, rights, false, &mut guards));
                keep.binders.push(b);
            }
            Slot::Fd(fd) => {
                objects.push(Object::Fd {
                    index: ts.pending_fds.len() as u32,
                });
                ts.pending_fds.extend(fd);
            }
        }
    }
    // The payload's blob is the last object (the receiver looks for it
    // there).
    let flags = match blob {
        Some((fd, len)) => {
            objects.push(Object::Blob {
                index: ts.pending_fds.len() as u32,
                len: len as u64,
            });
            ts.pending_fds.push(fd);
            flags | TxnFlags::DATA_IN_BLOB
        }
        None => flags,
    };
    let mut txn = txn_out(code, flags, range, objects);
    txn.splices = splices;
    Ok((txn, guards, keep))
}

/// `len` bytes of the send area at `at`.
fn inline(at: usize, len: usize) -> DataRange {
    DataRange {
        offset: at as u64,
        len: len as u64,
    }
}

/// Puts a payload where the mediator copies it from: the send area at
/// `at`, or (above `threshold`, or while a parcel is being built in the
/// area) a sealed blob, returned with its length to travel as the last
/// object.
fn place_payload(
    ts: &mut ThreadState,
    bytes: &[u8],
    threshold: usize,
    at: usize,
) -> Result<(DataRange, Option<(OwnedFd, usize)>)> {
    let len = bytes.len();
    if len <= threshold {
        match ts.chan.write_send_area(at, bytes) {
            Ok(()) => return Ok((inline(at, len), None)),
            // A parcel is being built in place on this thread: this
            // payload goes around it.
            Err(DeviceError::SendAreaBusy) => {}
            Err(e) => {
                return Err(Status::from_code(
                    StatusCode::FailedTransaction,
                    e.to_string(),
                ))
            }
        }
    }
    let fd = create_blob("capbinder-blob", bytes).map_err(|e| {
        Status::from_code(
            StatusCode::NoMemory,
            format!("creating a {len}-byte blob: {e}"),
        )
    })?;
    Ok((DataRange::default(), Some((fd, len))))
}

/// The object a binder travels as: a local one is exported (kept so while
/// the send is in flight) and named by its id, a remote one by its handle;
/// `strong` says which count the receiver gets.
fn binder_object(
    ts: &ThreadState,
    b: &crate::binder::SpIBinder,
    rights: Rights,
    strong: bool,
    guards: &mut Vec<SendGuard>,
) -> Object {
    if let Some(l) = b.local_object() {
        guards.push(ts.process.export(l));
        return Object::Binder {
            ptr: l.id,
            cookie: l.id,
            strong,
            flags: l.flags(),
        };
    }
    Object::Handle {
        handle: b.handle().expect("remote binders have handles"),
        strong,
        rights,
    }
}

fn txn_out(code: u32, flags: u32, data: DataRange, objects: Vec<Object>) -> TxnOut {
    TxnOut {
        code,
        flags: TxnFlags(flags),
        data,
        objects,
        splices: Vec::new(),
        work_source: None,
    }
}

/// This thread's send area, for a parcel built in place; `None` while
/// another parcel holds it (or the thread cannot register).
pub(crate) fn lease_send_area(
    process: &Arc<ProcessState>,
) -> Option<capbinder_kmod_shim::sys::memfd::SendLease> {
    // Not while oneway calls are in flight: a parcel built in place starts
    // at the start of the area, where their payloads may lie.
    with_ts(process, |ts| {
        Ok(ts
            .oneway
            .is_empty()
            .then(|| ts.chan.send_area().try_lease())
            .flatten())
    })
    .ok()
    .flatten()
}

/// Turns a delivered call or reply into a parcel: reads the payload in
/// place in the receive buffer (freed when the parcel drops), or maps the
/// blob it came in,
/// and makes proxies for the handles it carries (every count the mediator
/// gave is accounted for, read or not).
fn receive(process: &Arc<ProcessState>, tx: &TxnIn, fds: Vec<OwnedFd>) -> Result<Parcel> {
    let mut fds: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
    // The buffer is freed when the parcel that reads it in place is
    // dropped (or at once, for a blob or a failure: see the end).
    let delivered = crate::parcel::Delivered::new(process.clone(), tx.buffer);
    let mut give_back = Vec::new();
    let mut slots = Vec::with_capacity(tx.objects.len());
    let mut blob = None;
    let in_blob = tx.flags.0 & TxnFlags::DATA_IN_BLOB != 0;
    let mut err = None;
    for (i, o) in tx.objects.iter().enumerate() {
        let last = i + 1 == tx.objects.len();
        match *o {
            Object::Binder { ptr, strong, .. } => match process.lookup_local(ptr) {
                Some(l) => {
                    let b = crate::binder::SpIBinder::from_local(l);
                    slots.push(if strong {
                        Slot::Binder(b, Rights::ALL)
                    } else {
                        Slot::Weak(b, Rights::ALL)
                    });
                }
                None => {
                    err.get_or_insert_with(|| {
                        Status::exception(
                            ExceptionCode::BadParcelable,
                            format!("object {i} names local object #{ptr}, which is not exported"),
                        )
                    });
                }
            },
            Object::Handle {
                handle,
                strong,
                rights,
            } => {
                let (b, extra) = process.proxy_for(handle, strong);
                give_back.extend(extra);
                slots.push(if strong {
                    Slot::Binder(b, rights)
                } else {
                    Slot::Weak(b, rights)
                });
            }
            Object::Blob { index, len } if in_blob && last => {
                let fd = fds.get_mut(index as usize).and_then(Option::take);
                blob = Some((fd, len));
            }
            Object::Fd { index } | Object::Blob { index, .. } | Object::SharedMem { index, .. } => {
                slots.push(Slot::Fd(fds.get_mut(index as usize).and_then(Option::take)));
            }
        }
    }
    let _ = DEFERRED.try_with(|d| d.borrow_mut().extend(give_back));
    if let Some(e) = err {
        return Err(e);
    }
    let mut p = if in_blob {
        let (Some(fd), len) = blob.unwrap_or((None, 0)) else {
            return Err(Status::exception(
                ExceptionCode::BadParcelable,
                "the payload was marked as a blob but no blob came with it",
            ));
        };
        let len = usize::try_from(len).map_err(|_| {
            Status::exception(ExceptionCode::BadParcelable, "blob length out of range")
        })?;
        let map = Mapping::private_sealed(fd.as_fd(), len).map_err(|e| {
            Status::exception(
                ExceptionCode::BadParcelable,
                format!("mapping the payload blob: {e}"),
            )
        })?;
        Parcel::from_blob(map, slots)
    } else {
        Parcel::from_delivered(delivered, slots)
    };
    if tx.flags.clear_buf() {
        p.mark_sensitive();
    }
    Ok(p)
}

/// Hands a delivered call's or reply's box back to this thread's
/// channel for the next delivery (see `ThreadChannel::recycle`); dropped
/// where the thread state is busy or gone.
fn recycle(tx: Box<TxnIn>) {
    let _ = TS.try_with(|c| {
        if let Ok(mut b) = c.try_borrow_mut() {
            if let Some(ts) = b.as_mut() {
                ts.chan.recycle(tx);
            }
        }
    });
}

/// Receive buffers up to this size are freed with this thread's next write
/// (a looper's comes right after the call it serves, a client's with its
/// next call), saving the mediator a message and a wakeup per call;
/// larger ones are freed at once so an idle thread never sits on much of
/// the buffer. Bounded: a thread defers at most the buffers it dropped
/// since it last wrote.
const DEFER_FREE_MAX: u64 = 8 * 1024;

/// Frees a delivered range once nothing reads it any more.
pub(crate) fn free_buffer(process: &Arc<ProcessState>, range: DataRange) {
    let cmd = Command::FreeBuffer {
        offset: range.offset,
    };
    let registered = TS
        .try_with(|c| c.try_borrow().map_or(true, |b| b.is_some()))
        .unwrap_or(false);
    if registered && range.len <= DEFER_FREE_MAX {
        let _ = DEFERRED.try_with(|d| d.borrow_mut().push(cmd));
    } else {
        post(process, vec![cmd]);
    }
}

pub(crate) fn unpack_reply(mut p: Parcel) -> Result<Parcel> {
    match p.read_status_byte()? {
        0 => Ok(p),
        1 => Err(p.read::<Status>()?),
        t => Err(Status::exception(
            ExceptionCode::BadParcelable,
            format!("reply status tag {t} is neither 0 (ok) nor 1 (status)"),
        )),
    }
}

/// Calls `code` on `proxy` and waits for the reply (or, for `oneway`, for
/// the mediator to accept it, unless the process keeps a window of oneway
/// calls in flight), serving nested calls meanwhile.
pub(crate) fn transact(
    proxy: &Arc<Proxy>,
    code: u32,
    data: Parcel,
    oneway: bool,
) -> Result<Parcel> {
    let (process, handle) = (&proxy.process, proxy.handle);
    let data = if oneway {
        process.count_oneway();
        data
    } else {
        // A direct call this thread serves goes on the stacks before a
        // call of its own can nest in it.
        if crate::direct::serving_unadopted() {
            // A failed adoption is the direct caller's business, not this
            // call's target's: this call goes on through the mediator (as
            // binder's would once the caller died), and the direct call's
            // reply is dropped.
            if let Err(e) = crate::direct::adopt(process) {
                tracing::debug!("direct call not adopted ({e}); its reply is dropped");
                crate::direct::abandon();
            }
        }
        match crate::direct::call(proxy, code, data) {
            Ok(result) => return result,
            Err(data) => data,
        }
    };
    let window = if oneway { process.oneway_window() } else { 0 };
    if window > 0 && !data.is_in_send_area() {
        return send_in_window(proxy, code, data, window);
    }
    let flags = if oneway {
        TxnFlags::ONEWAY
    } else {
        TxnFlags::ACCEPT_FDS
    };
    // Its payload goes at the start of the area: older calls first.
    let (_guards, _keep) = with_room(process, data, |ts, data| {
        if !ts.oneway.is_empty() {
            return Ok(Err(data));
        }
        let (mut txn, guards, keep) = prepare(ts, code, flags, data, 0)?;
        txn.work_source = crate::work_source::outgoing();
        ts.pending.push(Command::Transaction { handle, txn });
        ts.flush()?;
        Ok(Ok((guards, keep)))
    })?;
    let result = wait_for_reply(process, oneway);
    // Acknowledgements gathered while waiting go out now, not at some
    // later call, so owners and the mediator are not kept waiting; a
    // polled thread says it is free again.
    let _ = with_ts(process, |ts| ts.free());
    result
}

/// Sends a oneway call without waiting for its answer, once the window
/// has room for it (see `oneway`).
fn send_in_window(proxy: &Arc<Proxy>, code: u32, data: Parcel, window: usize) -> Result<Parcel> {
    let (process, handle) = (&proxy.process, proxy.handle);
    with_room(process, data, |ts, data| {
        let area = ts.chan.send_area_len();
        let threshold = (ts.process.limits().blob_threshold as usize).min(area);
        // Over the threshold it goes as a blob, outside the area.
        let bytes = if data.len() <= threshold {
            data.len()
        } else {
            0
        };
        let Some(at) = ts.oneway.room(bytes, area, window) else {
            return Ok(Err(data));
        };
        let (mut txn, guards, keep) = prepare(ts, code, TxnFlags::ONEWAY, data, at)?;
        txn.work_source = crate::work_source::outgoing();
        let range = txn.data;
        ts.pending.push(Command::Transaction { handle, txn });
        // Its answer is read later: a polled thread is free meanwhile.
        ts.flush_free()?;
        ts.oneway.sent(
            range.offset as usize,
            range.len as usize,
            InFlight {
                proxy: proxy.clone(),
                _guards: guards,
                _keep: keep,
            },
        );
        Ok(Ok(()))
    })?;
    Ok(Parcel::new())
}

fn wait_for_reply(process: &Arc<ProcessState>, oneway: bool) -> Result<Parcel> {
    loop {
        let (ret, fds) = read(process)?;
        match ret {
            Return::TransactionComplete => {
                if oneway {
                    return Ok(Parcel::new());
                }
            }
            Return::Reply(tx) => {
                let reply = receive(process, &tx, fds);
                recycle(tx);
                return unpack_reply(reply?);
            }
            Return::DeadReply { id } => {
                return Err(Status::dead(format!(
                    "{id}: the target died before it replied"
                )))
            }
            Return::FailedReply { id, error } => return Err(failure_status(Some(id), &error)),
            Return::FrozenReply { id } => {
                return Err(Status::from_code(
                    StatusCode::Frozen,
                    format!("{id}: the target process is frozen"),
                ))
            }
            other => handle_other(process, other, fds)?,
        }
    }
}

/// Everything but a call's own answer: nested calls, notices, deaths,
/// spawn requests, stray errors.
fn handle_other(process: &Arc<ProcessState>, ret: Return, fds: Vec<OwnedFd>) -> Result<()> {
    match ret {
        Return::Transaction(tx) => {
            execute(process, tx, fds, true);
            with_ts(process, |ts| ts.flush())
        }
        Return::IncRefs { .. }
        | Return::Acquire { .. }
        | Return::Release { .. }
        | Return::DecRefs { .. } => {
            if let Some(ack) = process.on_ref_notice(&ret) {
                let _ = DEFERRED.try_with(|d| d.borrow_mut().push(ack));
            }
            Ok(())
        }
        Return::DeadBinder { cookie } => {
            let cmds = process.on_dead_binder(cookie);
            let _ = DEFERRED.try_with(|d| d.borrow_mut().extend(cmds));
            Ok(())
        }
        Return::FrozenBinder { cookie, is_frozen } => {
            let done = process.on_frozen_binder(cookie, is_frozen);
            let _ = DEFERRED.try_with(|d| d.borrow_mut().push(done));
            Ok(())
        }
        Return::SpawnLooper => {
            process.spawn_pooled_thread();
            Ok(())
        }
        Return::DirectServe {
            grant,
            target,
            sender,
            first_id,
        } => {
            crate::direct::serve(process, grant, target, sender, first_id, fds);
            Ok(())
        }
        Return::TopicDropped { .. } | Return::TopicPublishersGone { .. } => {
            crate::topic::on_notice(process, &ret);
            Ok(())
        }
        Return::Error(e) => {
            tracing::debug!("a command was refused: {e}");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Runs one call on a local object: the built-ins, then the object's own
/// codes. Used for remote calls (by `execute`) and local ones in place.
pub(crate) fn run_local(
    l: &LocalObject,
    code: u32,
    data: &mut Parcel,
    reply: &mut Parcel,
) -> Result<()> {
    match code {
        PING_TRANSACTION => Ok(()),
        INTERFACE_TRANSACTION => reply.write(l.obj.descriptor()),
        EXTENSION_TRANSACTION => reply.write_nullable_binder(l.extension().as_ref()),
        DUMP_TRANSACTION => {
            let fd = data.read_fd()?;
            let args: Vec<String> = data.read()?;
            let mut out = std::fs::File::from(fd);
            l.obj.dump(&mut out, &args)
        }
        // libbinder's `setError(OK)`: a status that says nothing failed
        // is a success, whatever the handler called it.
        _ => match l.obj.on_transact(code, data, reply) {
            Err(s) if s.is_ok() => Ok(()),
            r => r,
        },
    }
}

/// Serves one incoming call and queues its reply (with the freed buffer)
/// for this thread's next write. A looper thread passes `flush: false` so
/// the reply rides in one write with its `WaitForWork` (one message instead
/// of two per call served); a thread waiting on its own call flushes at
/// once, since its next step is a read.
fn execute(process: &Arc<ProcessState>, mut tx: Box<TxnIn>, fds: Vec<OwnedFd>, flush: bool) {
    serve(process, &mut tx, fds, flush);
    recycle(tx);
}

/// `execute`'s work, on a borrowed call.
fn serve(process: &Arc<ProcessState>, tx: &mut TxnIn, fds: Vec<OwnedFd>, flush: bool) {
    let oneway = tx.flags.oneway();
    let clear_buf = tx.flags.clear_buf();
    let target = tx.target.and_then(|(ptr, _)| process.lookup_local(ptr));
    // Entered before the payload is read, as libbinder reads it inside
    // the call: a proxy made for an object in it is charged to the
    // caller's uid (`proxy_count`).
    let entered = (
        identity::enter(CallingIdentity::from_txn(tx)),
        crate::work_source::serve(tx.sender.work_source),
    );
    // A topic's gap callback runs inside the message, as its handler does.
    crate::topic::on_message(process, tx);
    let adopted = tx.flags.adopted();
    let result = receive(process, tx, fds).and_then(|mut data| {
        if adopted {
            // Delivered for an adoption this thread did not ask for (it
            // was not waiting for one): its caller is told, not left
            // waiting.
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                format!(
                    "{}: no direct call waits to be adopted on this thread",
                    tx.id
                ),
            ));
        }
        let l = target.ok_or_else(|| {
            Status::from_code(
                StatusCode::DeadObject,
                format!("{}: the target object is no longer exported here", tx.id),
            )
        })?;
        let mut reply = Parcel::reply_with_status(0);
        // libbinder forwards TF_CLEAR_BUF from a call to its reply; marked
        // before the handler runs, so that bytes the handler moves out of
        // it (`move_to_send_area`) are zeroed too.
        if clear_buf {
            reply.mark_sensitive();
        }
        // A handler that panics must still answer its caller, and this
        // thread must go on serving: unwinding out of the looper would
        // take the thread away and leave the caller a "died" reply from a
        // process that lives on (or, on a thread waiting on its own call,
        // nothing at all). Like Java's binder with a RuntimeException,
        // the caller gets the failure instead; an abort-on-panic build
        // still dies, and its callers get dead replies.
        let code = tx.code;
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            run_local(&l, code, &mut data, &mut reply)
        }))
        .map_err(|panic| {
            let what = panic_message(panic.as_ref());
            tracing::error!("{}: code {code} panicked: {what}", tx.id);
            Status::from_code(
                StatusCode::UnknownError,
                format!("{}: the service panicked in code {code}: {what}", tx.id),
            )
        })??;
        Ok(reply)
    });
    // The call is over once its reply is made: death notices read while
    // it is sent run outside it.
    drop(entered);
    if oneway {
        if let Err(e) = result {
            tracing::debug!("oneway {} failed: {e}", tx.id);
        }
        return;
    }
    let mut reply = result.unwrap_or_else(status_reply);
    // A failure's status reply too.
    if clear_buf {
        reply.mark_sensitive();
    }
    queue_reply(process, reply, tx.id, flush);
}

/// Queues `reply` to the call `id` this thread serves for its next write
/// (at once with `flush`), and waits for the notices of any object in it.
fn queue_reply(process: &Arc<ProcessState>, reply: Parcel, id: capbinder_core::TxnId, flush: bool) {
    // The reply goes at the start of the area: oneway calls the handler
    // left in flight first.
    let queued = with_room(process, reply, |ts, reply| {
        if !ts.oneway.is_empty() {
            return Ok(Err(reply));
        }
        // A reply that cannot be sent as written (an fd already read out
        // of it, no memory for its blob) must still end the call: the
        // caller gets the reason instead of waiting for good.
        let (out, guards, keep) = match prepare(ts, 0, 0, reply, 0) {
            Ok(p) => p,
            Err(status) => {
                tracing::warn!("reply to {} cannot be sent: {status}", id);
                prepare(ts, 0, 0, status_reply(status), 0)?
            }
        };
        ts.pending.push(Command::Reply(out));
        // A local object in a reply: the mediator tells us to take a
        // reference on it (IncRefs, Acquire) on this thread, but after the
        // reply's TransactionComplete, so the send guards must outlive
        // those notices or the object is unexported before its Acquire
        // arrives (never acknowledged, and calls on it fail as "no longer
        // exported"). A DumpState after the reply marks the point by which
        // the mediator has written them.
        let barrier = !guards.is_empty();
        if barrier {
            ts.pending.push(Command::DumpState);
        }
        if barrier || flush {
            ts.flush()?;
        }
        Ok(Ok((guards, keep, barrier)))
    });
    match queued {
        Ok((guards, keep, barrier)) => {
            drop(keep);
            if barrier {
                if let Err(e) = await_barrier(process) {
                    tracing::debug!("waiting for the notices of reply {}: {e}", id);
                }
            }
            drop(guards);
        }
        Err(e) => tracing::debug!("reply to {} not sent: {e}", id),
    }
}

/// Refuses, by name, a parcel with more objects or fds than one
/// transaction may carry: the mediator would refuse the first, and the
/// kernel refuses to pass more than `SCM_MAX_FD` fds in one message, which
/// would lose the whole write (for a reply, its caller would wait for
/// good). `pending_fds` are fds already queued for the same write.
fn check_counts(
    slots: &[Slot],
    blob: bool,
    pending_fds: usize,
    limits: &capbinder_core::Limits,
) -> Result<()> {
    let objects = slots.len() + usize::from(blob);
    if objects > limits.max_objects {
        return Err(Status::from_code(
            StatusCode::BadValue,
            format!(
                "this parcel carries {objects} objects; at most {} travel in one transaction",
                limits.max_objects
            ),
        ));
    }
    let fds = slots.iter().filter(|s| matches!(s, Slot::Fd(_))).count() + usize::from(blob);
    if fds + pending_fds > limits.max_fds {
        return Err(Status::from_code(
            StatusCode::BadValue,
            format!(
                "this parcel carries {fds} file descriptors{}; at most {} travel in one transaction",
                if blob { " (one of them its payload's blob)" } else { "" },
                limits.max_fds
            ),
        ));
    }
    Ok(())
}

/// The message a panic was raised with, as the default hook prints it.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(a payload that is not a string)"
    }
}

/// A reply that carries `status` instead of a result.
pub(crate) fn status_reply(status: Status) -> Parcel {
    let mut p = Parcel::reply_with_status(1);
    let _ = p.write(&status);
    p
}

/// Reads until the answer to a `DumpState` this thread wrote, handling
/// notices and nested calls that arrive before it. A dump too large for
/// one message comes back as `StateTooLarge` in its place, which ends the
/// wait too.
fn await_barrier(process: &Arc<ProcessState>) -> Result<()> {
    loop {
        let (ret, fds) = read(process)?;
        match ret {
            Return::State(_)
            | Return::Error(capbinder_core::Failure::StateTooLarge { .. })
            | Return::Error(capbinder_core::Failure::Transport(_)) => return Ok(()),
            other => handle_other(process, other, fds)?,
        }
    }
}

/// A pool thread's life: join the pool, then take work until the
/// connection is lost.
pub(crate) fn looper(process: &Arc<ProcessState>, main: bool) -> Result<()> {
    let joined = with_ts(process, |ts| {
        if ts.polling {
            // It is in the pool already, and would only be woken, never
            // handed work, by a `WaitForWork`.
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "this thread serves calls by polling (setup_polling): it cannot also join the thread pool",
            ));
        }
        ts.pending.push(if main {
            Command::EnterLooper
        } else {
            Command::RegisterLooper
        });
        Ok(())
    });
    if let Err(e) = joined {
        // This thread could not register (the mediator's thread cap, no
        // memory for its buffers): the spawn request it answers failed.
        if !main && !process.is_lost() {
            tracing::warn!("a new pool thread cannot register: {e}");
            process.spawn_failed();
        }
        return Err(e);
    }
    loop {
        with_ts(process, |ts| {
            // `WaitForWork` must end its write: the mediator takes any
            // command after it as "this thread is busy again". Left to
            // `flush`, the acknowledgements of the work just done (a death
            // notice's `DeadBinderDone`, an `AcquireDone`) went after it,
            // and the thread stayed non-idle with an empty stack for good,
            // never handed process work again.
            let _ = DEFERRED.try_with(|d| ts.pending.append(&mut d.borrow_mut()));
            ts.pending.push(Command::WaitForWork);
            ts.waiting = true;
            ts.flush()
        })?;
        loop {
            let (ret, fds) = match read(process) {
                Ok(r) => r,
                Err(e) => {
                    process.connection_lost();
                    return Err(e);
                }
            };
            match ret {
                Return::TransactionComplete | Return::SpawnLooper | Return::Error(_) => {
                    handle_other(process, ret, fds)?;
                }
                Return::Transaction(tx) => {
                    // The reply goes with the next `WaitForWork`.
                    execute(process, tx, fds, false);
                    break;
                }
                other => {
                    // Process work: after it, ask for more.
                    handle_other(process, other, fds)?;
                    break;
                }
            }
        }
    }
}

/// Sets one of this thread's flags.
fn set_flag(
    process: &Arc<ProcessState>,
    flag: fn(&mut ThreadState) -> &mut bool,
    on: bool,
) -> Result<()> {
    with_ts(process, |ts| {
        *flag(ts) = on;
        Ok(())
    })
}

/// Makes the calling thread a polled one (see
/// [`ProcessState::setup_polling`]): it joins the pool as its main looper
/// and serves what is already waiting; its channel, duplicated, is
/// returned.
pub(crate) fn setup_polling(process: &Arc<ProcessState>) -> Result<OwnedFd> {
    let minor = process.dev.welcome().minor;
    if minor < 1 {
        return Err(Status::from_code(
            StatusCode::InvalidOperation,
            format!("the mediator speaks protocol minor {minor}; serving by polling needs minor 1 (TakeWork)"),
        ));
    }
    with_ts(process, |ts| {
        if ts.polling {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "this thread already serves calls by polling",
            ));
        }
        ts.pending.push(Command::EnterLooper);
        // Marks it as polling in the mediator, and takes what is queued.
        // Last in the write: a command after it (a deferred free) would
        // make the thread busy again, and it would never be woken.
        ts.flush_ending(Some(Command::TakeWork), true)?;
        ts.polling = true;
        ts.taking = true;
        Ok(ts.chan.poll_fd()?)
    })
    .and_then(|fd| {
        // Calls already waiting are served now, so that none is handed
        // to the thread after its loop's first call of its own.
        serve_polled(process)?;
        Ok(fd)
    })
}

/// Serves what has arrived for the calling polled thread: calls (each
/// replied to), notices, deaths. Returns once the mediator has nothing
/// more for it.
pub(crate) fn handle_polled(process: &Arc<ProcessState>) -> Result<()> {
    if !with_ts(process, |ts| Ok(ts.polling))? {
        return Err(Status::from_code(
            StatusCode::InvalidOperation,
            "handle_polled_commands on a thread that did not call setup_polling",
        ));
    }
    serve_polled(process)
}

/// Serves what has come for a polled thread. At most one `TakeWork` is
/// unanswered at a time (`ThreadState::taking`), nothing is written while
/// it is, and this returns only once the mediator said `NoWork` to the
/// last, so no work handed to the thread is left unread for its loop's
/// own calls to nest under. An answer is `NoWork`, or `WorkTaken` and the
/// item right after it; anything else (the notices its own writes caused,
/// a wake-up, a spawn request) came straight to the thread and answers
/// nothing.
fn serve_polled(process: &Arc<ProcessState>) -> Result<()> {
    let taking: fn(&mut ThreadState) -> &mut bool = |ts| &mut ts.taking;
    let serving: fn(&mut ThreadState) -> &mut bool = |ts| &mut ts.serving;
    loop {
        let (asked, input) = with_ts(process, |ts| {
            Ok((
                ts.taking,
                ts.taking || ts.chan.has_input().map_err(|e| lost(process, e))?,
            ))
        })?;
        if !input {
            return Ok(());
        }
        let Some((ret, fds)) = read_one(process).inspect_err(|_| process.connection_lost())? else {
            continue; // the answer to a oneway call in flight, settled
        };
        // Whether to take the next work: after a wake-up (unless a
        // `TakeWork` is unanswered: that one takes it) or an item served;
        // not after `NoWork` (the thread waits now) or a notice.
        let take = match ret {
            Return::NoWork => {
                set_flag(process, taking, false)?;
                false
            }
            Return::WorkAvailable => !asked,
            Return::WorkTaken => {
                set_flag(process, taking, false)?;
                let (item, fds) = read(process).inspect_err(|_| process.connection_lost())?;
                set_flag(process, serving, true)?;
                let served = match item {
                    Return::Transaction(tx) => {
                        execute(process, tx, fds, false);
                        Ok(())
                    }
                    other => handle_other(process, other, fds),
                };
                set_flag(process, serving, false)?;
                served?;
                true
            }
            other => {
                handle_other(process, other, fds)?;
                false
            }
        };
        // The reply, if any, and the acknowledgements ride in the same
        // write, before the `TakeWork` (or the `WaitForWork` that keeps
        // the thread waiting when anything else is written); nothing
        // goes while a `TakeWork` is unanswered.
        with_ts(process, |ts| {
            if take {
                ts.taking = true;
                ts.flush_ending(Some(Command::TakeWork), true)
            } else if ts.taking {
                Ok(())
            } else {
                ts.flush_free()
            }
        })?;
    }
}

/// Writes any acknowledgements and frees this thread still holds.
pub fn flush_commands() -> Result<()> {
    let process = ProcessState::get()?;
    with_ts(&process, |ts| ts.flush_free())
}
