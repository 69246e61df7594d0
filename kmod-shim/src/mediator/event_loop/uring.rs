//! The io_uring loop: one [`Ring`] per mediator, one `io_uring_enter` per
//! pass.
//!
//! Every watched fd has one read-side request in flight: a `recvmsg` into a
//! pool buffer (a channel), an `accept` (the listener) or a one-shot `poll`
//! (a pidfd, the shutdown eventfd, a signalfd). Sends wait in a queue per
//! channel; once per pass each channel with no send in flight gets its queue
//! (up to [`CHAIN_MAX`] messages) as one linked chain, so messages to one
//! channel arrive in order while channels do not wait on each other. A pass
//! pushes the pass's sends, re-arms the receives that completed and lends
//! the used pool buffers back, then makes one `submit_and_wait(1)` and
//! handles every completion.
//!
//! Closing a channel shuts the socket down (its pending receive completes
//! with end of file and its sends fail) and cancels what is left on it;
//! the fd is closed once no request on it is in flight, so no request ever
//! points at a closed fd or freed memory (`sys::uring` keeps each
//! request's memory until its completion).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustc_hash::FxHashMap;
use tracing::{debug, warn};

use super::{send_failed, Event, Message, Req, Watched, MAX_OUTBOX};
use crate::sys::channel::{Channel, SCM_MAX_FD};
use crate::sys::uring::{Completion, Ring};
use crate::wire::MAX_MSG;

/// Submission queue entries.
const ENTRIES: u32 = 256;
/// Pool buffers for receiving: at most this many messages per pass (a
/// receive that finds none waits for the next pass).
const POOL_BUFFERS: u16 = 64;
/// The most messages one channel gets in one linked chain.
pub const CHAIN_MAX: usize = 32;

// A chain larger than the submission queue would be submitted in halves,
// the second no longer linked to the first: its messages could overtake.
const _: () = assert!(CHAIN_MAX <= ENTRIES as usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// End of file or an error was reported; waiting for the shim's `Close`.
    Dead,
    /// `Close { flush: true }`: send what is queued, then close.
    Flushing,
    /// Shut down and cancelled; dropped when nothing is in flight.
    Closing,
}

/// One watched fd.
struct Slot {
    what: Watched,
    state: State,
    /// A read-side request (recv, accept, poll) is in flight.
    armed: bool,
    /// Messages waiting for the next chain.
    outbox: VecDeque<Message>,
    /// Sends of the chain in flight.
    sending: usize,
}

impl Slot {
    fn fd(&self) -> BorrowedFd<'_> {
        match &self.what {
            Watched::Listener(l) => l.as_fd(),
            Watched::Channel(c) => c.as_fd(),
            Watched::Fd(f) => f.as_fd(),
        }
    }
}

/// The io_uring loop's state.
pub(crate) struct UringIo {
    // Declared first so that it drops first: the ring cancels and reaps
    // every request before the fds in `slots` close.
    ring: Ring,
    /// By token (mediator-assigned, so Fx needs no flood resistance).
    slots: FxHashMap<u64, Slot>,
    /// Slots whose read-side request completed this pass.
    rearm: Vec<u64>,
    /// Slots with queued sends.
    dirty: Vec<u64>,
    /// Slots shut down, waiting for their requests to finish.
    closing: Vec<u64>,
}

impl UringIo {
    pub fn new() -> io::Result<UringIo> {
        Ok(UringIo {
            ring: Ring::new(ENTRIES, POOL_BUFFERS, MAX_MSG + 1)?,
            slots: FxHashMap::default(),
            rearm: Vec::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
        })
    }

    fn arm(ring: &mut Ring, token: u64, slot: &mut Slot) {
        match &slot.what {
            Watched::Listener(l) => ring.accept(l.as_fd(), token),
            Watched::Channel(c) => ring.recvmsg(c.as_fd(), token),
            Watched::Fd(f) => ring.poll_readable(f.as_fd(), token),
        }
        slot.armed = true;
    }

    pub fn watch(&mut self, token: u64, what: Watched) -> io::Result<()> {
        let mut slot = Slot {
            what,
            state: State::Open,
            armed: false,
            outbox: VecDeque::new(),
            sending: 0,
        };
        Self::arm(&mut self.ring, token, &mut slot);
        self.slots.insert(token, slot);
        Ok(())
    }

    pub fn apply(&mut self, req: Req, on: &mut dyn FnMut(Event<'_>)) {
        match req {
            Req::Watch { token, what } => {
                // Cannot fail now; a bad fd fails its request, reported then.
                let _ = self.watch(token, what);
            }
            Req::Send { token, msg } => {
                let Some(slot) = self.slots.get_mut(&token) else {
                    return;
                };
                if !matches!(slot.what, Watched::Channel(_)) || matches!(slot.state, State::Closing)
                {
                    return;
                }
                if slot.outbox.len() + slot.sending >= MAX_OUTBOX {
                    on(Event::overflow(token));
                    return;
                }
                if msg.fds.len() > SCM_MAX_FD {
                    // As sendmsg would refuse it on the epoll loop.
                    on(Event::Undeliverable {
                        token,
                        why: format!("a message with {} fds, more than SCM_MAX_FD", msg.fds.len()),
                    });
                    return;
                }
                if slot.outbox.is_empty() {
                    self.dirty.push(token);
                }
                slot.outbox.push_back(msg);
            }
            Req::Drain { then, .. } => {
                // Not drained here: a receive may be in flight on each
                // channel, and a message read beside it could overtake
                // one it already holds. A message its completions did not
                // bring before the death is dropped (docs/transport.md).
                on(Event::Drained { token: then });
            }
            Req::Close { token, flush } => {
                let Some(slot) = self.slots.get_mut(&token) else {
                    return;
                };
                if flush && (!slot.outbox.is_empty() || slot.sending > 0) {
                    slot.state = State::Flushing;
                    self.dirty.push(token);
                } else {
                    self.begin_close(token);
                }
            }
        }
    }

    /// Shuts the socket down and cancels what is in flight on it; the fd
    /// closes once nothing is.
    fn begin_close(&mut self, token: u64) {
        let Some(slot) = self.slots.get_mut(&token) else {
            return;
        };
        if slot.state == State::Closing {
            return;
        }
        slot.state = State::Closing;
        slot.outbox.clear();
        if let Watched::Channel(c) = &slot.what {
            let _ = c.shutdown();
        }
        if self.ring.in_flight(token) > 0 {
            self.ring.cancel_fd(slot.fd(), token);
        }
        self.closing.push(token);
    }

    /// Pushes one chain for each channel with queued sends and none in
    /// flight; finishes flushing closes.
    fn push_sends(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for token in dirty {
            let Some(slot) = self.slots.get_mut(&token) else {
                continue;
            };
            if slot.sending > 0 || !matches!(slot.state, State::Open | State::Flushing) {
                continue; // the chain's completion marks it dirty again
            }
            if slot.outbox.is_empty() {
                if slot.state == State::Flushing {
                    self.begin_close(token);
                }
                continue;
            }
            let n = slot.outbox.len().min(CHAIN_MAX);
            let chain: Vec<Message> = slot.outbox.drain(..n).collect();
            slot.sending = n;
            if let Watched::Channel(c) = &slot.what {
                self.ring.send_chain(c.as_fd(), token, chain);
            }
        }
    }

    pub fn wait(&mut self, on: &mut dyn FnMut(Event<'_>)) -> io::Result<()> {
        self.push_sends();
        for token in std::mem::take(&mut self.rearm) {
            if let Some(slot) = self.slots.get_mut(&token) {
                if slot.state == State::Open && !slot.armed {
                    Self::arm(&mut self.ring, token, slot);
                }
            }
        }
        self.ring.submit_and_wait(1)?;
        let UringIo {
            ring,
            slots,
            rearm,
            dirty,
            ..
        } = self;
        ring.complete(|c| handle(slots, rearm, dirty, on, c));
        // Close what nothing points at any more.
        let mut i = 0;
        while i < self.closing.len() {
            let token = self.closing[i];
            if self.ring.in_flight(token) == 0 {
                self.closing.swap_remove(i);
                self.slots.remove(&token);
            } else {
                i += 1;
            }
        }
        Ok(())
    }
}

/// Handles one completion.
fn handle(
    slots: &mut FxHashMap<u64, Slot>,
    rearm: &mut Vec<u64>,
    dirty: &mut Vec<u64>,
    on: &mut dyn FnMut(Event<'_>),
    c: Completion<'_>,
) {
    let token = match &c {
        Completion::Message { tag, .. }
        | Completion::RecvFailed { tag, .. }
        | Completion::Sent { tag, .. }
        | Completion::Accepted { tag, .. }
        | Completion::Ready { tag, .. }
        | Completion::Cancelled { tag } => *tag,
    };
    let Some(slot) = slots.get_mut(&token) else {
        return;
    };
    let open = slot.state == State::Open;
    match c {
        Completion::Cancelled { .. } => {}
        Completion::Sent { result, .. } => {
            slot.sending = slot.sending.saturating_sub(1);
            if let Err(e) = result {
                send_failed(token, &e, on);
                slot.outbox.clear();
            }
            if slot.sending == 0 {
                dirty.push(token);
            }
        }
        Completion::Message { got, data, .. } => {
            slot.armed = false;
            if !open {
                return; // the fds it brought close here
            }
            if got.full_len == 0 && got.fds.is_empty() {
                slot.state = State::Dead;
                on(Event::Closed { token });
                return;
            }
            rearm.push(token);
            on(Event::Message { token, got, data });
        }
        Completion::RecvFailed { err, .. } => {
            slot.armed = false;
            if !open {
                return;
            }
            match err.raw_os_error() {
                Some(libc::ENOBUFS | libc::EINTR | libc::EAGAIN) => rearm.push(token),
                _ => {
                    debug!(token, "channel read failed: {err}; closing it");
                    slot.state = State::Dead;
                    on(Event::Closed { token });
                }
            }
        }
        Completion::Accepted { result, .. } => {
            slot.armed = false;
            if !open {
                return;
            }
            rearm.push(token);
            match result.and_then(Channel::from_owned_fd) {
                Ok(chan) => on(Event::Accepted(chan)),
                Err(e) => warn!("accept failed: {e}"),
            }
        }
        Completion::Ready { result, .. } => {
            slot.armed = false;
            if !open {
                return;
            }
            match result {
                Ok(()) => on(Event::Ready { token }),
                Err(e) => {
                    warn!(token, "poll failed: {e}");
                    slot.state = State::Dead;
                    on(Event::Closed { token });
                }
            }
        }
    }
}
