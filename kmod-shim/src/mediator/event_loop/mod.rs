//! The event loops that drive the `Shim`: one loop per
//! mediator, chosen at start ([`LoopChoice`]).
//!
//! - [`uring`]: io_uring (the `io-uring` crate through `sys::uring`). Every
//!   receive, send, accept and poll of a pass is one request, and the pass
//!   ends in one `io_uring_enter` that submits them all and waits.
//! - [`epoll`]: epoll (rustix), level-triggered, one `epoll_wait` per pass,
//!   then non-blocking `recvmsg`/`sendmsg` calls; the fallback where io_uring
//!   is unavailable or forbidden (containers often forbid it), or chosen.
//!
//! Both speak the same two-way vocabulary, so the shim never learns which
//! one runs. The shim asks for I/O with `Req`s (watch an fd, send a
//! message, close), which the loop carries out in order; the loop reports
//! what happened as `Event`s. A loop owns every fd it watches: the shim
//! names them by token (a `u64` never reused), and a fd is closed only when
//! the loop is done with it (for io_uring: after the socket was shut down
//! and every request on it completed or was cancelled).

pub mod epoll;
pub mod uring;

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

use serde::Deserialize;

use crate::sys::channel::{Channel, Listener, Received};
pub use crate::sys::uring::Message;

/// Messages queued for one channel that does not read, before its process
/// is disconnected (a client that never reads must not grow the mediator).
pub(crate) const MAX_OUTBOX: usize = 4096;

/// Which loop the configuration asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum LoopChoice {
    /// The loop that measured faster: epoll. The io_uring mediator sleeps
    /// in the enter that sends, so every request wakes it (about 5
    /// switches per round trip against epoll's 4.1); it measured 22.0 us
    /// per 32-byte round trip against epoll's 18.9 (capbinder-rawbench
    /// --diagnostics, same CPU, 2026-12-03; docs/transport.md, "The
    /// loop"). Choose it with `io_uring` to measure again.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// io_uring; starting fails where it is unavailable.
    #[serde(rename = "io_uring", alias = "uring")]
    Uring,
    /// epoll.
    #[serde(rename = "epoll")]
    Epoll,
}

impl LoopChoice {
    /// Parses `auto`, `io_uring` (or `uring`), `epoll`: the values of
    /// `CAPBINDER_LOOP` and of the `event_loop` configuration key.
    pub fn parse(s: &str) -> Option<LoopChoice> {
        match s {
            "auto" => Some(LoopChoice::Auto),
            "io_uring" | "uring" => Some(LoopChoice::Uring),
            "epoll" => Some(LoopChoice::Epoll),
            _ => None,
        }
    }
}

/// The loop that actually runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopKind {
    /// io_uring.
    Uring,
    /// epoll.
    Epoll,
}

impl fmt::Display for LoopKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoopKind::Uring => "io_uring",
            LoopKind::Epoll => "epoll",
        })
    }
}

/// An fd a loop watches (and owns).
pub(crate) enum Watched {
    /// The listening socket: reports [`Event::Accepted`].
    Listener(Listener),
    /// A process connection or thread channel: reports [`Event::Message`]
    /// and [`Event::Closed`], and sends what [`Req::Send`] queues.
    Channel(Channel),
    /// Anything else that turns readable once (a pidfd, the shutdown
    /// eventfd, a signalfd): reports [`Event::Ready`].
    Fd(OwnedFd),
}

/// What the shim asks of the loop, carried out in order.
pub(crate) enum Req {
    /// Start watching `what` under `token`.
    Watch {
        /// The token, new.
        token: u64,
        /// The fd.
        what: Watched,
    },
    /// Send a message on the channel `token`, after those queued before it.
    Send {
        /// The channel.
        token: u64,
        /// Bytes and fds.
        msg: Message,
    },
    /// Stop watching `token` and close its fd: at once (messages still
    /// queued are dropped), or after the queued messages went (`flush`).
    Close {
        /// The fd.
        token: u64,
        /// Send what is queued first.
        flush: bool,
    },
    /// Read every message waiting on the channels `tokens` now (a dead
    /// process's writes, made before it died), then report
    /// [`Event::Drained`] with `then`.
    Drain {
        /// The channels.
        tokens: Vec<u64>,
        /// What `Drained` names.
        then: u64,
    },
}

/// What the loop tells the shim.
pub(crate) enum Event<'a> {
    /// The listener accepted a connection.
    Accepted(Channel),
    /// A message arrived on channel `token`; `data` is `got.len` bytes,
    /// lent for the call only.
    Message {
        /// The channel.
        token: u64,
        /// Lengths, flags, fds, credentials.
        got: Received,
        /// The bytes.
        data: &'a [u8],
    },
    /// Channel `token` reached end of file or failed (or could not be
    /// watched): the shim closes it.
    Closed {
        /// The channel.
        token: u64,
    },
    /// A [`Req::Drain`] is done: every message its channels held was
    /// reported.
    Drained {
        /// The request's `then`.
        token: u64,
    },
    /// Fd `token` turned readable.
    Ready {
        /// The fd.
        token: u64,
    },
    /// A message for channel `token` was dropped: [`MAX_OUTBOX`] were
    /// queued (its peer does not read), or the send failed for a reason
    /// other than a full socket or a closed peer. Its peer is owed a
    /// message it will never get (a reply, a failure), so the shim
    /// disconnects it rather than leave a caller waiting.
    Undeliverable {
        /// The channel.
        token: u64,
        /// Why, for the log.
        why: String,
    },
}

impl Event<'_> {
    /// A message dropped because [`MAX_OUTBOX`] were queued for `token`.
    fn overflow(token: u64) -> Event<'static> {
        Event::Undeliverable {
            token,
            why: format!("{MAX_OUTBOX} messages queued: the peer does not read"),
        }
    }
}

/// A send on channel `token` failed and its queue was dropped. A closed
/// peer is reported by the receive side (and, on io_uring, the rest of a
/// failed chain comes back cancelled); anything else is `Undeliverable`.
fn send_failed(token: u64, e: &io::Error, on: &mut dyn FnMut(Event<'_>)) {
    match e.raw_os_error() {
        Some(libc::EPIPE | libc::ECONNRESET | libc::ECANCELED) => {
            tracing::debug!(token, "send on a channel failed: {e}")
        }
        _ => on(Event::Undeliverable {
            token,
            why: format!("sendmsg failed: {e}"),
        }),
    }
}

/// Buffers of sent messages, kept for the next encodings: without them,
/// every return a call sends allocated its bytes and freed them after the
/// send (two allocations and two frees per round trip, in the mediator's
/// profile). Bounded in number and in the room each may keep, so that a
/// burst or one large message does not pin memory.
#[derive(Default)]
pub(crate) struct Spent(Vec<Vec<u8>>);

impl Spent {
    /// The most buffers kept.
    const MAX: usize = 64;

    /// Keeps `bytes`' allocation if there is room for it.
    pub fn keep(&mut self, bytes: Vec<u8>) {
        if self.0.len() < Self::MAX && bytes.capacity() <= crate::wire::KEEP_CAPACITY {
            self.0.push(bytes);
        }
    }

    /// A kept buffer (not emptied), or a new one with room for a call's
    /// return.
    pub fn take(&mut self) -> Vec<u8> {
        self.0
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(crate::wire::ENCODE_CAPACITY))
    }

    /// Moves every buffer of `other` here (as far as there is room).
    pub fn absorb(&mut self, other: &mut Spent) {
        if self.0.is_empty() {
            // The ping-pong's case, each pass: one buffer used, one sent.
            // Both lists hold only buffers `keep` let in.
            std::mem::swap(&mut self.0, &mut other.0);
            return;
        }
        for b in other.0.drain(..) {
            self.keep(b);
        }
    }
}

/// The running loop.
pub(crate) enum Io {
    Epoll(epoll::EpollIo),
    Uring(Box<uring::UringIo>),
}

impl Io {
    /// Makes the loop the choice asks for; an explicit io_uring that cannot
    /// start is an error naming why.
    pub fn new(choice: LoopChoice) -> io::Result<Io> {
        match choice {
            LoopChoice::Epoll => Ok(Io::Epoll(epoll::EpollIo::new()?)),
            LoopChoice::Uring => match uring::UringIo::new() {
                Ok(u) => Ok(Io::Uring(Box::new(u))),
                Err(e) => Err(io::Error::new(
                    e.kind(),
                    format!(
                        "io_uring was asked for but cannot start ({e}); it may be disabled \
                         (sysctl kernel.io_uring_disabled) or forbidden by a seccomp filter; \
                         use --epoll or event_loop = \"epoll\""
                    ),
                )),
            },
            LoopChoice::Auto => Ok(Io::Epoll(epoll::EpollIo::new()?)),
        }
    }

    /// Which loop this is.
    pub fn kind(&self) -> LoopKind {
        match self {
            Io::Epoll(_) => LoopKind::Epoll,
            Io::Uring(_) => LoopKind::Uring,
        }
    }

    /// Starts watching `what` now, reporting failure (used at bind time).
    pub fn watch(&mut self, token: u64, what: Watched) -> io::Result<()> {
        match self {
            Io::Epoll(e) => e.watch(token, what),
            Io::Uring(u) => u.watch(token, what),
        }
    }

    /// Carries out one request; what it causes at once (an overflow, a watch
    /// that failed) is reported through `on`.
    pub fn apply(&mut self, req: Req, on: &mut dyn FnMut(Event<'_>)) {
        match self {
            Io::Epoll(e) => e.apply(req, on),
            Io::Uring(u) => u.apply(req, on),
        }
    }

    /// The buffers of the messages sent since the last call (the epoll
    /// loop's; io_uring holds a message's bytes until its completion and
    /// frees them there).
    pub fn spent(&mut self) -> Option<&mut Spent> {
        match self {
            Io::Epoll(e) => Some(&mut e.spent),
            Io::Uring(_) => None,
        }
    }

    /// One pass: waits for something to happen and reports it through `on`.
    pub fn wait(&mut self, on: &mut dyn FnMut(Event<'_>)) -> io::Result<()> {
        match self {
            Io::Epoll(e) => e.wait(on),
            Io::Uring(u) => u.wait(on),
        }
    }
}
