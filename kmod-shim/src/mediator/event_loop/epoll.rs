//! The epoll loop: one epoll instance per mediator, level-triggered. Each
//! registered fd carries its token. A pass is one `epoll_wait`, then for
//! each ready fd: accept everything waiting (the listener), report it ready
//! (a pidfd or shutdown fd), or flush its queued sends and read with
//! non-blocking `recvmsg` (a channel): one message, or, on a channel that
//! is streaming, up to [`READS_PER_PASS`].
//!
//! Why one: in a call's ping-pong a channel holds one message when it turns
//! readable, and the `recvmsg` that would find it empty was a third of the
//! mediator's syscalls per round trip; level-triggered epoll reports a
//! channel again while anything is left. A channel found readable in two
//! passes in a row is streaming (a oneway burst): it is drained to `EAGAIN`
//! until a read finds only one message.
//! Sends go out at once with non-blocking `sendmsg`; what does not fit the
//! socket waits in the channel's queue for `EPOLLOUT`.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustc_hash::FxHashMap;
use rustix::event::epoll;
use tracing::{debug, warn};

use super::{send_failed, Event, Message, Req, Spent, Watched, MAX_OUTBOX};
use crate::sys::channel::SCM_MAX_FD;
use crate::wire::MAX_MSG;

/// How many messages one channel may have read per pass (fairness).
pub const READS_PER_PASS: usize = 32;

/// Most messages a drain reads from one channel: a dead process's last
/// writes, bounded so that a peer that kept the channel open and writes
/// on cannot hold the loop.
const DRAIN_MAX: usize = 4096;

/// Most messages read by guessing ([`EpollIo::guess`]) before the loop
/// asks epoll again: every other fd waits at most this many messages.
const GUESSES_PER_WAIT: usize = 8;

/// Most sends to a channel that go without a guess after guesses on it
/// found nothing: after the `n`th miss in a row, `2^(n-1)` sends, up to
/// this many.
const GUESS_BACKOFF_MAX: u8 = 32;

/// Sends to a channel without a guess after `misses` guesses in a row
/// found nothing: 1, 2, 4, ... up to [`GUESS_BACKOFF_MAX`].
fn backoff(misses: u8) -> u8 {
    let doubled = 1u32 << misses.saturating_sub(1).min(7);
    doubled.min(u32::from(GUESS_BACKOFF_MAX)) as u8
}

/// Readiness the loop cares about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    /// Readable (or a message waiting).
    pub read: bool,
    /// Writable again after a full socket.
    pub write: bool,
    /// Hang-up or error: the peer is gone (read what is left first).
    pub hangup: bool,
}

/// Most events one `epoll_wait` returns.
const EVENTS_PER_WAIT: usize = 256;

/// An epoll instance.
pub struct Poller {
    ep: OwnedFd,
}

fn flags(write: bool) -> epoll::EventFlags {
    let mut f = epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
    if write {
        f |= epoll::EventFlags::OUT;
    }
    f
}

impl Poller {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            ep: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Watches `fd` for reading under `token`.
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(epoll::add(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            flags(false),
        )?)
    }

    /// Also (or no longer) watches `fd` for room to write.
    pub fn set_write_interest(&self, fd: impl AsFd, token: u64, write: bool) -> io::Result<()> {
        Ok(epoll::modify(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            flags(write),
        )?)
    }

    /// Stops watching `fd` (closing it would too; this makes it explicit).
    pub fn delete(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.ep, fd);
    }

    /// `epoll_wait`: blocks until at least one event, then puts them in
    /// `out` (cleared first).
    pub fn wait(&self, out: &mut Vec<(u64, Ready)>) -> io::Result<()> {
        // On the stack, not in the struct: rustix's `Event` holds a pointer
        // union and is not `Send`, and the mediator may run on any thread.
        let mut buf = [const { MaybeUninit::<epoll::Event>::uninit() }; EVENTS_PER_WAIT];
        let events = loop {
            match epoll::wait(&self.ep, &mut buf, None) {
                Ok((events, _)) => break events,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        out.clear();
        out.extend(events.iter().map(|ev| {
            let f = ev.flags;
            (
                ev.data.u64(),
                Ready {
                    read: f.contains(epoll::EventFlags::IN),
                    write: f.contains(epoll::EventFlags::OUT),
                    hangup: f.intersects(
                        epoll::EventFlags::HUP | epoll::EventFlags::ERR | epoll::EventFlags::RDHUP,
                    ),
                },
            )
        }));
        Ok(())
    }
}

/// One watched fd.
struct Slot {
    what: Watched,
    /// Messages that did not fit the socket, oldest first.
    outbox: VecDeque<Message>,
    /// Watching for `EPOLLOUT`.
    writing: bool,
    /// Reported closed: no longer polled, waiting for the shim's `Close`.
    dead: bool,
    /// Read until empty each pass, not once (see the module docs).
    streaming: bool,
    /// The pass in which it was last read.
    last_read: u64,
    /// Guesses on it in a row that found nothing (see [`EpollIo::guess`]).
    misses: u8,
    /// Sends to it still to go without a guess after the last miss.
    skip: u8,
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

/// The epoll loop's state: the poller and every watched fd.
pub(crate) struct EpollIo {
    poller: Poller,
    /// By token (mediator-assigned, so Fx needs no flood resistance).
    slots: FxHashMap<u64, Slot>,
    /// Receive buffer for one message.
    buf: Vec<u8>,
    /// The ready list of a pass, kept so that a pass allocates nothing.
    ready: Vec<(u64, Ready)>,
    /// Passes so far.
    pass: u64,
    /// The channel the last send went to, if nothing was read since.
    sent_to: Option<u64>,
    /// Messages read by guessing since the last `epoll_wait`.
    guessed: usize,
    /// Buffers of messages sent, for the shim to encode into again.
    pub(crate) spent: Spent,
    /// The last pass saw something other than messages (a hang-up, a
    /// pidfd, a new connection): the next wait asks epoll, so that what
    /// else that event brought (the rest of a dead process's fds) is
    /// handled before more of the ping-pong (see [`EpollIo::guess`]).
    unrest: bool,
}

/// One non-blocking `sendmsg` of `m` with its fds.
fn send_one(chan: &crate::sys::channel::Channel, m: &Message) -> io::Result<()> {
    if m.fds.is_empty() {
        return chan.try_send(&m.bytes, &[]).map(drop);
    }
    let fds: Vec<BorrowedFd<'_>> = m.fds.iter().map(|f| f.as_fd()).collect();
    chan.try_send(&m.bytes, &fds).map(drop)
}

/// Tries to send every queued message; `Ok(true)` when the queue emptied.
/// The buffers of the messages sent go to `spent`.
fn flush(
    chan: &crate::sys::channel::Channel,
    outbox: &mut VecDeque<Message>,
    spent: &mut Spent,
) -> io::Result<bool> {
    while let Some(m) = outbox.front() {
        match send_one(chan, m) {
            Ok(()) => {
                if let Some(m) = outbox.pop_front() {
                    spent.keep(m.bytes);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => {
                outbox.clear();
                return Err(e);
            }
        }
    }
    Ok(true)
}

/// Reads up to `budget` messages from `chan` and reports each; returns how
/// many. An error or an orderly close sets `dead` (the caller reports it).
fn read_channel(
    token: u64,
    chan: &crate::sys::channel::Channel,
    dead: &mut bool,
    buf: &mut [u8],
    budget: usize,
    on: &mut dyn FnMut(Event<'_>),
) -> usize {
    let mut read = 0;
    for _ in 0..budget {
        let got = match chan.try_recv(buf, SCM_MAX_FD) {
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                debug!(token, "channel read failed: {e}; closing it");
                *dead = true;
                break;
            }
        };
        if got.full_len == 0 && got.fds.is_empty() {
            *dead = true;
            break;
        }
        let len = got.len;
        read += 1;
        on(Event::Message {
            token,
            got,
            data: &buf[..len],
        });
    }
    read
}

/// A channel found closed while read: no longer polled, and reported.
fn closed(
    poller: &Poller,
    chan: &crate::sys::channel::Channel,
    token: u64,
    on: &mut dyn FnMut(Event<'_>),
) {
    poller.delete(chan.as_fd());
    on(Event::Closed { token });
}

impl EpollIo {
    pub fn new() -> io::Result<EpollIo> {
        Ok(EpollIo {
            poller: Poller::new()?,
            slots: FxHashMap::default(),
            buf: vec![0; MAX_MSG + 1],
            ready: Vec::with_capacity(EVENTS_PER_WAIT),
            pass: 0,
            sent_to: None,
            guessed: 0,
            spent: Spent::default(),
            unrest: false,
        })
    }

    pub fn watch(&mut self, token: u64, what: Watched) -> io::Result<()> {
        let slot = Slot {
            what,
            outbox: VecDeque::new(),
            writing: false,
            dead: false,
            streaming: false,
            last_read: 0,
            misses: 0,
            skip: 0,
        };
        self.poller.add(slot.fd(), token)?;
        self.slots.insert(token, slot);
        Ok(())
    }

    pub fn apply(&mut self, req: Req, on: &mut dyn FnMut(Event<'_>)) {
        match req {
            Req::Watch { token, what } => {
                if let Err(e) = self.watch(token, what) {
                    warn!(token, "epoll_ctl(ADD) failed: {e}");
                    on(Event::Closed { token });
                }
            }
            Req::Send { token, msg } => self.send(token, msg, on),
            Req::Drain { tokens, then } => {
                for token in tokens {
                    let Some(slot) = self.slots.get_mut(&token) else {
                        continue;
                    };
                    let Watched::Channel(chan) = &slot.what else {
                        continue;
                    };
                    if slot.dead {
                        continue;
                    }
                    read_channel(token, chan, &mut slot.dead, &mut self.buf, DRAIN_MAX, on);
                    if slot.dead {
                        closed(&self.poller, chan, token, on);
                    }
                }
                on(Event::Drained { token: then });
            }
            Req::Close { token, flush: want } => {
                let Some(mut slot) = self.slots.remove(&token) else {
                    return;
                };
                if want {
                    if let Watched::Channel(c) = &slot.what {
                        // Best effort: what does not fit now is dropped.
                        let _ = flush(c, &mut slot.outbox, &mut self.spent);
                    }
                }
                if !slot.dead {
                    self.poller.delete(slot.fd());
                }
            }
        }
    }

    fn send(&mut self, token: u64, msg: Message, on: &mut dyn FnMut(Event<'_>)) {
        let Some(slot) = self.slots.get_mut(&token) else {
            return; // closed meanwhile: the fds close here
        };
        let Watched::Channel(chan) = &slot.what else {
            return;
        };
        if slot.outbox.len() >= MAX_OUTBOX {
            on(Event::overflow(token));
            return;
        }
        let sent = if slot.outbox.is_empty() {
            // Nothing queued before it: straight to the socket, not
            // through the queue (a call's every message); queued only if
            // the socket is full.
            match send_one(chan, &msg) {
                Ok(()) => {
                    self.spent.keep(msg.bytes);
                    Ok(true)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    slot.outbox.push_back(msg);
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        } else {
            slot.outbox.push_back(msg);
            flush(chan, &mut slot.outbox, &mut self.spent)
        };
        match sent {
            Ok(true) => self.sent_to = Some(token),
            Ok(false) if !slot.writing && !slot.dead => {
                slot.writing = true;
                let _ = self.poller.set_write_interest(chan.as_fd(), token, true);
            }
            Ok(false) => {}
            Err(e) => send_failed(token, &e, on),
        }
    }

    pub fn wait(&mut self, on: &mut dyn FnMut(Event<'_>)) -> io::Result<()> {
        let unrest = std::mem::take(&mut self.unrest);
        if let Some(token) = self.sent_to.take() {
            if !unrest && self.guessed < GUESSES_PER_WAIT && self.guess(token, on) {
                self.guessed += 1;
                return Ok(());
            }
        }
        self.guessed = 0;
        // Taken out for the pass: handling an event needs `self` mutably.
        let mut events = std::mem::take(&mut self.ready);
        let waited = self.poller.wait(&mut events);
        let result = waited.map(|()| self.handle(&events, on));
        self.ready = events;
        result
    }

    /// Reads one message from the channel a message was just sent to,
    /// without asking epoll first; whether one came (or the channel
    /// closed). In a call's ping-pong on one CPU the receiver runs as soon
    /// as it is woken, and by the time the mediator runs again it has
    /// answered on that channel: the `epoll_wait` that would report it was
    /// a sixth of the mediator's syscalls per round trip. Where the guess
    /// keeps failing (the peer runs on another CPU and has not answered
    /// yet), a failed `recvmsg` would be one more syscall instead, so
    /// misses in a row skip twice as many chances on that channel each
    /// time ([`backoff`]). A single miss skips one: on one CPU the peer
    /// now and then has not run yet (the scheduler let the mediator go
    /// on after the wakeup), and a long fixed backoff after each such
    /// miss made a third of the round trips wait in `epoll_wait`.
    ///
    /// Not after a pass that saw a hang-up, a pidfd or a connection: when
    /// a process dies, its thread channel's hang-up (a dead reply to its
    /// caller) may come a pass before its connection's and its pidfd's,
    /// and a guess would then read the caller's next request (a lookup, a
    /// state dump) before the death is whole.
    fn guess(&mut self, token: u64, on: &mut dyn FnMut(Event<'_>)) -> bool {
        let Some(slot) = self.slots.get_mut(&token) else {
            return false;
        };
        let Watched::Channel(chan) = &slot.what else {
            return false;
        };
        if slot.dead || slot.writing {
            return false;
        }
        if slot.skip > 0 {
            slot.skip -= 1;
            return false;
        }
        if read_channel(token, chan, &mut slot.dead, &mut self.buf, 1, on) == 0 && !slot.dead {
            slot.misses = slot.misses.saturating_add(1);
            slot.skip = backoff(slot.misses);
            return false;
        }
        slot.misses = 0;
        if slot.dead {
            closed(&self.poller, chan, token, on);
            self.unrest = true;
        }
        true
    }

    /// Handles the events of one pass.
    fn handle(&mut self, events: &[(u64, Ready)], on: &mut dyn FnMut(Event<'_>)) {
        self.pass += 1;
        self.unrest = false;
        for &(token, ready) in events {
            self.unrest |= ready.hangup;
            let Some(slot) = self.slots.get_mut(&token) else {
                continue;
            };
            if slot.dead {
                continue;
            }
            self.unrest |= !matches!(slot.what, Watched::Channel(_));
            match &slot.what {
                Watched::Listener(l) => loop {
                    match l.accept() {
                        Ok(c) => on(Event::Accepted(c)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            warn!("accept failed: {e}");
                            break;
                        }
                    }
                },
                Watched::Fd(_) => on(Event::Ready { token }),
                Watched::Channel(chan) => {
                    if ready.write {
                        let flushed = flush(chan, &mut slot.outbox, &mut self.spent);
                        if !matches!(flushed, Ok(false)) {
                            slot.writing = false;
                            let _ = self.poller.set_write_interest(chan.as_fd(), token, false);
                        }
                        if let Err(e) = flushed {
                            send_failed(token, &e, on);
                        }
                    }
                    if !(ready.read || ready.hangup) {
                        continue;
                    }
                    let budget = if slot.streaming { READS_PER_PASS } else { 1 };
                    let read = read_channel(token, chan, &mut slot.dead, &mut self.buf, budget, on);
                    slot.streaming = if slot.streaming {
                        read > 1
                    } else {
                        slot.last_read + 1 == self.pass
                    };
                    slot.last_read = self.pass;
                    if slot.dead {
                        closed(&self.poller, chan, token, on);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_miss_skips_one_guess_and_misses_in_a_row_skip_twice_as_many() {
        // One CPU: a miss now and then must not cost a long run of waits.
        assert_eq!(backoff(1), 1);
        // Another CPU: misses in a row soon make a guess rare.
        let seq: Vec<u8> = (1..=8).map(backoff).collect();
        assert_eq!(seq, [1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(backoff(u8::MAX), GUESS_BACKOFF_MAX);
    }
}
