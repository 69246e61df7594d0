//! Sync calls over direct channels (`capbinder_core::direct`): on a
//! thread's second call on a remote object (the first went through the
//! mediator) it asks for a socket pair to the object's process, and its data-only
//! calls (no objects, no fds, not sensitive, at most [`MAX_PAYLOAD`]
//! bytes each way) go straight to a thread there that serves only that
//! channel. A round trip is then two wakeups instead of four.
//!
//! Nothing a caller or a server can see changes with the path: the
//! server learns the caller's identity from the mediator (with the
//! channel), a call that needs the stacks is *adopted* first (the server
//! thread asks the caller, the caller tells the mediator, and the call
//! becomes an ordinary one: a nested call from the handler lands on the
//! waiting thread, and a reply with objects goes through the mediator),
//! a dead server is a dead reply, and a channel the mediator revoked
//! (handle released, server frozen) sends the call through the mediator,
//! which answers as it would have.
//!
//! What is used direct: a sync call from a thread that is not serving a
//! call, at the default priority (`SCHED_NORMAL`, nice 0: where the
//! mediator would migrate nothing), on a handle other than 0.

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};

use capbinder_core::{Command, Handle, Return, Sender, TxnId};
use capbinder_kmod_shim::sys::channel::Channel;
use capbinder_kmod_shim::sys::sched::{self, SchedPolicy};
use rustc_hash::FxHashMap;

use crate::binder::LocalObject;
use crate::binder::Proxy;
use crate::identity::{self, CallingIdentity};
use crate::parcel::Parcel;
use crate::process::ProcessState;
use crate::status::{ExceptionCode, Result, Status, StatusCode};

/// The largest payload sent direct, each way: larger ones are cheaper
/// through the mediator's receive buffer (one copy) than through a
/// socket (two).
pub const MAX_PAYLOAD: usize = 16 * 1024;
/// The call on one handle, from one thread, that asks for a channel (and
/// goes over it): the second; a handle called once is not worth one.
const ASK_AFTER: i32 = 2;
/// Calls through the mediator after a refusal or a revocation before the
/// thread asks again.
const ASK_AGAIN_AFTER: i32 = 64;

/// A call's head on the channel, caller to server: code, flags, and the
/// work source (0: none, else 1 and the uid), little-endian.
const CALL_HEAD: usize = 16;
/// Server to caller: the reply parcel's bytes follow.
const REPLY: u8 = 0;
/// Server to caller: adopt this call (`Command::AdoptDirect`); the server
/// thread's tid follows (4 bytes).
const ADOPT: u8 = 1;
/// Server to caller: the call was not run (the server is closing the
/// channel); make it through the mediator.
const RETRY: u8 = 2;

enum Channelled {
    /// Calls counted through the mediator; asks at `ASK_AFTER`.
    Counting(i32),
    /// Open.
    Open(Channel),
    /// Taken by this thread's call in flight: a call nested in it (a
    /// handler the thread runs while its call is adopted) goes through
    /// the mediator.
    InUse,
}

/// What `call` does with a call, decided in one look at the thread's
/// entry for the handle.
enum Step {
    Mediated,
    /// Ask for a channel, then use it.
    Ask,
    /// Use this open channel (taken out of the entry until put back).
    Use(Channel),
}

struct Entry {
    /// The proxy it was made for: a handle number may be reused for
    /// another node once released.
    proxy: Weak<Proxy>,
    state: Channelled,
    /// The process's count of oneway calls sent when this thread last
    /// called on this handle (see `ProcessState::count_oneway`).
    oneway_seen: u64,
}

thread_local! {
    /// This thread's channels, by handle.
    static CHANNELS: RefCell<FxHashMap<Handle, Entry>> = RefCell::default();
    /// The thread's own tid (for `sched_getattr`, and to name itself when
    /// it asks to be adopted).
    static TID: i32 = rustix::thread::gettid().as_raw_nonzero().get();
    /// On a channel's server thread: the channel, set once, and the call
    /// being served.
    static SERVING: RefCell<Option<Serving>> = const { RefCell::new(None) };
    /// The buffer answers to this thread's direct calls are read into.
    static ANSWER_BUF: RefCell<Vec<u8>> = RefCell::default();
}

/// A channel's server thread.
struct Serving {
    /// The channel, to ask for adoption on.
    chan: Arc<Channel>,
    /// The grant, which the mediator is told this thread awaits adoption
    /// on (`AwaitAdoption`).
    grant: u64,
    call: CallState,
}

/// Where the call a channel's server thread serves stands.
#[derive(Clone, Copy)]
enum CallState {
    /// No call.
    Idle,
    /// Served direct: its reply goes back on the channel.
    Direct,
    /// Adopted: the call is on the stacks and its reply goes through the
    /// mediator.
    Adopted(TxnId),
    /// Its adoption failed (the caller went away, or the channel was
    /// revoked): it gets no reply, and the handler's calls go through the
    /// mediator as calls of their own.
    Abandoned,
}

/// The state of the call this thread serves (`Idle` on other threads).
fn call_state() -> CallState {
    SERVING.with(|s| s.borrow().as_ref().map_or(CallState::Idle, |s| s.call))
}

fn set_call_state(state: CallState) {
    SERVING.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            s.call = state;
        }
    });
}

fn my_tid() -> i32 {
    TID.with(|t| *t)
}

/// Whether the calling thread runs at the default priority, where a
/// mediated call would migrate nothing (a failed read counts as not).
fn default_priority() -> bool {
    let Some(tid) = rustix::process::Pid::from_raw(my_tid()) else {
        return false;
    };
    matches!(sched::thread_sched(tid), Ok(s) if s.policy == SchedPolicy::Normal && s.nice == 0)
}

/// Makes a sync call on `proxy` direct where it may go so: `Err(data)`
/// hands the parcel back for the mediator's path.
pub(crate) fn call(
    proxy: &Arc<Proxy>,
    code: u32,
    data: Parcel,
) -> std::result::Result<Result<Parcel>, Parcel> {
    let process = &proxy.process;
    let handle = proxy.handle;
    // A forked child uses none of its parent's channels: the mediator's
    // path tells it so (libbinder's CannotUseBinderAfterFork).
    if process.dev.check_fork().is_err() {
        return Err(data);
    }
    if !process.direct_calls()
        || handle == Handle::CONTEXT_MANAGER
        || data.object_count() > 0
        || data.is_sensitive()
        || data.len() > MAX_PAYLOAD
        // A thread serving a call makes its calls on the stacks.
        || identity::serving()
    {
        return Err(data);
    }
    let sent = process.oneway_sent();
    let step = CHANNELS.with(|c| {
        let mut c = c.borrow_mut();
        // A handle number may be reused for another node once released:
        // an entry is its proxy's (compared by address, which its `Weak`
        // keeps from being reused).
        if c.get(&handle)
            .is_none_or(|e| !std::ptr::eq(e.proxy.as_ptr(), Arc::as_ptr(proxy)))
        {
            // Entries of dropped proxies go: their channels were revoked
            // with the handle's last strong count.
            c.retain(|_, e| e.proxy.strong_count() > 0);
            c.insert(
                handle,
                Entry {
                    proxy: Arc::downgrade(proxy),
                    state: Channelled::Counting(0),
                    oneway_seen: 0,
                },
            );
        }
        let e = c.get_mut(&handle).expect("inserted above");
        // A oneway call sent since this thread's last call on this handle
        // (by any thread, on any handle): this call goes behind it, through
        // the mediator (and still counts towards asking for a channel).
        let behind = std::mem::replace(&mut e.oneway_seen, sent) != sent;
        match std::mem::replace(&mut e.state, Channelled::InUse) {
            Channelled::Open(ch) if !behind => Step::Use(ch),
            Channelled::Counting(n) => {
                e.state = Channelled::Counting(n + 1);
                if behind || n + 1 < ASK_AFTER {
                    Step::Mediated
                } else {
                    Step::Ask
                }
            }
            other => {
                e.state = other;
                Step::Mediated
            }
        }
    });
    let chan = match step {
        Step::Mediated => return Err(data),
        Step::Use(ch) => {
            if !default_priority() {
                set_state(handle, Channelled::Open(ch));
                return Err(data);
            }
            ch
        }
        Step::Ask => {
            if !default_priority() {
                return Err(data);
            }
            match request(process, handle) {
                Ok(Some(ch)) => {
                    set_state(handle, Channelled::InUse);
                    ch
                }
                Ok(None) => {
                    set_state(handle, Channelled::Counting(ASK_AFTER - ASK_AGAIN_AFTER));
                    return Err(data);
                }
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    let (result, next) = match call_on(process, &chan, handle, code, data) {
        Sent::Answered(r, true) => (Ok(r), Channelled::Open(chan)),
        // A channel `call_on` shut is done with; the thread asks
        // again, later.
        Sent::Answered(r, false) => (Ok(r), Channelled::Counting(ASK_AFTER - ASK_AGAIN_AFTER)),
        // The mediator ended the grant: the call goes its way, which
        // answers as the revocation's cause demands.
        Sent::Revoked(data) => (Err(data), Channelled::Counting(ASK_AFTER - ASK_AGAIN_AFTER)),
    };
    set_state(handle, next);
    result
}

fn set_state(handle: Handle, state: Channelled) {
    CHANNELS.with(|c| {
        if let Some(e) = c.borrow_mut().get_mut(&handle) {
            e.state = state;
        }
    });
}

enum Sent {
    /// The answer, and whether the channel may carry the next call.
    Answered(Result<Parcel>, bool),
    /// Not sent: the channel is revoked.
    Revoked(Parcel),
}

fn call_on(
    process: &Arc<ProcessState>,
    chan: &Channel,
    handle: Handle,
    code: u32,
    data: Parcel,
) -> Sent {
    let mut head = [0u8; CALL_HEAD];
    head[..4].copy_from_slice(&code.to_le_bytes());
    if let Some(uid) = crate::work_source::outgoing() {
        head[8..12].copy_from_slice(&1u32.to_le_bytes());
        head[12..].copy_from_slice(&uid.to_le_bytes());
    }
    // The payload is sent from where it is, behind the head.
    if let Err(e) = chan.send_parts(&head, &data.bytes()) {
        tracing::debug!("{handle}: direct channel closed ({e}); through the mediator");
        return Sent::Revoked(data);
    }
    // Read and parsed before an adoption, which waits (and may serve
    // nested calls on this thread) with the buffer free.
    let (r, keep) = match read_answer(chan, handle) {
        Answer::Reply(r) => (r, true),
        Answer::Retry => {
            // Not run: the call goes through the mediator after all.
            tracing::debug!("{handle}: the direct channel closes; through the mediator");
            let _ = chan.shutdown();
            return Sent::Revoked(data);
        }
        Answer::Adopt(tid) => {
            // Run, so not sent again: its send-area lease goes before the
            // adopted call's replies and nested calls need the area.
            drop(data);
            match crate::thread::adopt_and_wait(process, handle, tid) {
                Ok(reply) => (Ok(reply), true),
                Err(e) => {
                    // The server thread may still wait for the adoption,
                    // or answer on the channel after all: a later call
                    // could read that answer as its own. Closed, its
                    // thread stops.
                    let _ = chan.shutdown();
                    (Err(e), false)
                }
            }
        }
        Answer::Broken(e) => {
            let _ = chan.shutdown();
            (Err(e), false)
        }
    };
    Sent::Answered(r, keep)
}

/// What came back on the channel for a call.
enum Answer {
    /// The reply (or the handler's failure status).
    Reply(Result<Parcel>),
    /// The server thread asks that the call be adopted.
    Adopt(i32),
    /// The server did not run the call and closes the channel.
    Retry,
    /// The server is gone, or broke the channel's format: the channel is
    /// done with.
    Broken(Status),
}

/// Reads and parses one answer to a call on `chan`.
fn read_answer(chan: &Channel, handle: Handle) -> Answer {
    ANSWER_BUF.with(|b| {
        let inb = &mut *b.borrow_mut();
        inb.resize(1 + MAX_PAYLOAD, 0);
        let got = match chan.recv(inb, 0) {
            Ok(g) => g,
            Err(e) => {
                return Answer::Broken(Status::dead(format!(
                    "{handle}: the direct channel failed: {e}"
                )))
            }
        };
        if got.full_len == 0 {
            return Answer::Broken(Status::dead(format!(
                "{handle}: the target died before it replied"
            )));
        }
        if got.truncated {
            return Answer::Broken(Status::exception(
                ExceptionCode::BadParcelable,
                format!(
                    "{handle}: a direct reply of {} bytes is over the {MAX_PAYLOAD} a reply may have",
                    got.full_len
                ),
            ));
        }
        match inb[0] {
            REPLY => Answer::Reply(crate::thread::unpack_reply(Parcel::from_parts(
                inb[1..got.len].to_vec(),
                Vec::new(),
            ))),
            ADOPT if got.len == 5 => {
                Answer::Adopt(i32::from_le_bytes(inb[1..5].try_into().expect("4 bytes")))
            }
            RETRY if got.len == 1 => Answer::Retry,
            k => Answer::Broken(Status::exception(
                ExceptionCode::BadParcelable,
                format!(
                    "{handle}: a direct answer of kind {k} and {} bytes is neither a reply nor an adoption",
                    got.len
                ),
            )),
        }
    })
}

/// Asks the mediator for a channel on `handle`: `None` when refused.
fn request(process: &Arc<ProcessState>, handle: Handle) -> Result<Option<Channel>> {
    let answer = match crate::thread::request_direct(process, handle) {
        Ok(a) => a,
        // The command itself refused: calls go through the mediator.
        Err(e) if !process.is_lost() => {
            tracing::debug!("{handle}: {e}");
            None
        }
        Err(e) => return Err(e),
    };
    match answer {
        Some((Return::DirectGranted { .. }, fds)) => {
            let Some(fd) = fds.into_iter().next() else {
                // Not received (out of fds): its server sees the end
                // closed and stops; calls go through the mediator.
                tracing::debug!("{handle}: a direct channel's fd could not be received");
                return Ok(None);
            };
            Ok(Some(Channel::from_owned_fd(fd).map_err(|e| {
                Status::from_code(StatusCode::UnknownError, format!("direct channel: {e}"))
            })?))
        }
        Some((Return::DirectRefused { error, .. }, _)) => {
            tracing::debug!("{handle}: {error}");
            Ok(None)
        }
        _ => Ok(None),
    }
}

// ---- the server's side --------------------------------------------------

/// `DirectServe`: starts the thread that serves the channel in `fds`.
pub(crate) fn serve(
    process: &Arc<ProcessState>,
    grant: u64,
    target: (u64, u64),
    sender: Sender,
    first_id: TxnId,
    fds: Vec<OwnedFd>,
) {
    let closed = |chan: Option<&Channel>| {
        // A call its caller sent already goes through the mediator, and
        // the mediator forgets the channel.
        if let Some(c) = chan {
            close_unrun(c);
        }
        crate::thread::post(process, vec![Command::DirectClosed { grant }]);
    };
    let Some(chan) = fds
        .into_iter()
        .next()
        .and_then(|fd| Channel::from_owned_fd(fd).ok())
    else {
        return closed(None);
    };
    let Some(local) = process.lookup_local(target.0) else {
        return closed(Some(&chan));
    };
    let chan = Arc::new(chan);
    let server = ChannelServer {
        process: process.clone(),
        chan: chan.clone(),
        local,
        sender,
        grant,
    };
    let spawned = std::thread::Builder::new()
        .name(format!("capbinder-direct-{grant}"))
        .spawn(move || server.run(first_id));
    if let Err(e) = spawned {
        tracing::warn!("direct channel {grant}: no thread to serve it: {e}");
        closed(Some(&chan));
    }
}

/// Closes a channel this side gives up while its caller lives (no thread
/// for it, its IDs used up): no call is taken any more, and each already
/// sent is answered `RETRY` unrun, so that the caller makes it through
/// the mediator instead of taking the closed channel for a dead server.
fn close_unrun(chan: &Channel) {
    let _ = rustix::net::shutdown(chan, rustix::net::Shutdown::Read);
    let mut byte = [0u8; 1];
    while let Ok(got) = chan.try_recv(&mut byte, 0) {
        if got.full_len == 0 || chan.try_send(&[RETRY], &[]).is_err() {
            break;
        }
    }
    let _ = chan.shutdown();
}

/// The thread that serves one channel, and what it serves it for.
struct ChannelServer {
    process: Arc<ProcessState>,
    chan: Arc<Channel>,
    /// The node, held for as long as the channel lasts.
    local: Arc<LocalObject>,
    /// The caller, as the mediator named it.
    sender: Sender,
    grant: u64,
}

impl ChannelServer {
    /// Serves calls until the channel closes (or its IDs are used up).
    fn run(&self, first_id: TxnId) {
        let (process, chan, sender, grant) = (&self.process, &self.chan, &self.sender, self.grant);
        SERVING.with(|s| {
            *s.borrow_mut() = Some(Serving {
                chan: chan.clone(),
                grant,
                call: CallState::Idle,
            })
        });
        let mut buf = vec![0u8; CALL_HEAD + MAX_PAYLOAD];
        // The bytes of each call's parcel, handed back after it for the next.
        let mut body = Vec::new();
        // The buffer each reply is sent from.
        let mut out = Vec::new();
        let used_up = 'serve: {
            for n in 0..capbinder_core::direct::ID_BLOCK {
                let id = TxnId(first_id.0 + n);
                let got = match chan.recv(&mut buf, 0) {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::debug!("direct channel: {e}");
                        break 'serve false;
                    }
                };
                if got.full_len == 0 || process.is_lost() {
                    break 'serve false; // revoked, or its caller ended
                }
                if got.truncated || got.len < CALL_HEAD {
                    tracing::warn!(
                        "direct channel from pid {}: a call of {} bytes is malformed; closing it",
                        sender.pid,
                        got.full_len
                    );
                    break 'serve false;
                }
                let word =
                    |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
                let code = word(0);
                let work_source = (word(8) != 0).then(|| word(12));
                body.clear();
                body.extend_from_slice(&buf[CALL_HEAD..got.len]);
                let data = Parcel::from_parts(std::mem::take(&mut body), Vec::new());
                let (more, bytes) = self.serve_one(id, code, work_source, data, &mut out);
                body = bytes;
                if !more {
                    break 'serve false;
                }
            }
            true
        };
        SERVING.with(|s| s.borrow_mut().take());
        // Whoever waits on the channel learns now: the mediator's duplicate of
        // this end would keep it open. The mediator then forgets it. One
        // closed for its IDs sends a call already on its way round.
        if used_up {
            close_unrun(chan);
        } else {
            let _ = chan.shutdown();
        }
        if !process.is_lost() {
            crate::thread::post(process, vec![Command::DirectClosed { grant }]);
            let _ = crate::thread::flush_commands();
        }
    }

    /// Serves one call: whether the channel goes on, and the call's bytes
    /// back for the next one.
    fn serve_one(
        &self,
        id: TxnId,
        code: u32,
        work_source: Option<u32>,
        mut data: Parcel,
        out: &mut Vec<u8>,
    ) -> (bool, Vec<u8>) {
        let (process, chan, local) = (&self.process, &self.chan, &self.local);
        let entered = (
            identity::enter(CallingIdentity::from_sender(&self.sender, id)),
            crate::work_source::serve(work_source),
        );
        set_call_state(CallState::Direct);
        let mut reply = Parcel::reply_with_status(0);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            crate::thread::run_local(local, code, &mut data, &mut reply)
        }))
        .unwrap_or_else(|panic| {
            let what = crate::thread::panic_message(panic.as_ref()).to_owned();
            tracing::error!("direct call: code {code} panicked: {what}");
            Err(Status::from_code(
                StatusCode::UnknownError,
                format!("the service panicked in code {code}: {what}"),
            ))
        });
        let (bytes, _) = data.take_parts();
        let reply = match result {
            Ok(()) => reply,
            Err(s) => crate::thread::status_reply(s),
        };
        drop(entered);
        let direct_ok =
            reply.object_count() == 0 && !reply.is_sensitive() && reply.len() <= MAX_PAYLOAD;
        let state = match call_state() {
            // Objects, fds or a large payload go back through the mediator.
            CallState::Direct if !direct_ok => adopt(process).map_or_else(
                |e| {
                    tracing::debug!("direct call: reply not sent: {e}");
                    CallState::Abandoned
                },
                CallState::Adopted,
            ),
            s => s,
        };
        set_call_state(CallState::Idle);
        let more = match state {
            CallState::Adopted(id) => {
                crate::thread::send_reply(process, reply, id);
                true
            }
            CallState::Abandoned | CallState::Idle => false,
            CallState::Direct => {
                // Never blocks: a caller that has one call in flight has room
                // for its answer; one that queued calls and reads no answers
                // loses the channel instead of holding this thread.
                // One buffer, the kind byte then the parcel: measured
                // faster at 4 KiB than the kernel gathering the two (0.52x
                // against 0.57x the relay).
                out.clear();
                out.push(REPLY);
                out.extend_from_slice(&reply.bytes());
                let sent = chan.try_send(out, &[]).is_ok();
                // Its buffer is the thread's next reply's.
                reply.recycle();
                sent
            }
        };
        (more, bytes)
    }
}

/// Whether the calling thread serves a direct call not yet adopted: a
/// sync call it makes must adopt it first.
pub(crate) fn serving_unadopted() -> bool {
    matches!(call_state(), CallState::Direct)
}

/// The direct call this thread serves could not be adopted: see
/// `CallState::Abandoned`.
pub(crate) fn abandon() {
    set_call_state(CallState::Abandoned);
}

/// Has the direct call this thread serves adopted (see the module doc):
/// asks its caller on the channel, and waits on its own thread channel
/// for the empty call the mediator delivers for it, or for the channel
/// to close (the caller ended, or could not adopt).
pub(crate) fn adopt(process: &Arc<ProcessState>) -> Result<TxnId> {
    let (chan, grant) = SERVING
        .with(|s| s.borrow().as_ref().map(|s| (s.chan.clone(), s.grant)))
        .ok_or_else(|| {
            Status::from_code(StatusCode::InvalidOperation, "no direct call to adopt")
        })?;
    // The mediator hands the adopted call to no thread but the one it was
    // told awaits it, and only once told.
    crate::thread::command(process, Command::AwaitAdoption { grant })?;
    let id = crate::thread::await_adoption(process, chan.as_fd(), || {
        // Never blocks on a caller that reads nothing: it loses the call.
        let mut msg = [ADOPT; 5];
        msg[1..].copy_from_slice(&my_tid().to_le_bytes());
        chan.try_send(&msg, &[]).map(|_| ()).map_err(|e| {
            Status::dead(format!(
                "the direct caller went away before its call was adopted: {e}"
            ))
        })
    })?;
    set_call_state(CallState::Adopted(id));
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_closed_unrun_answers_each_queued_call_retry_and_takes_no_more() {
        let (caller, server) = Channel::pair().unwrap();
        caller.send(&[0u8; CALL_HEAD], &[]).unwrap();
        close_unrun(&server);
        // The call sent goes through the mediator instead...
        assert!(matches!(read_answer(&caller, Handle(1)), Answer::Retry));
        // ...and the channel is closed, not a dead server's.
        assert!(matches!(read_answer(&caller, Handle(1)), Answer::Broken(_)));
        assert!(caller.send(&[0u8; CALL_HEAD], &[]).is_err());
    }

    #[test]
    fn an_answer_of_an_unknown_kind_or_size_breaks_the_channel() {
        let (caller, server) = Channel::pair().unwrap();
        for bad in [&[9u8][..], &[ADOPT, 1, 2][..], &[RETRY, 0][..]] {
            server.send(bad, &[]).unwrap();
            assert!(
                matches!(read_answer(&caller, Handle(1)), Answer::Broken(_)),
                "{bad:?}"
            );
        }
        server.send(&[REPLY, 0], &[]).unwrap();
        assert!(matches!(
            read_answer(&caller, Handle(1)),
            Answer::Reply(Ok(_))
        ));
    }
}
