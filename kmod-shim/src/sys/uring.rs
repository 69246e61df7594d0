//! io_uring for the mediator's loop: one [`Ring`] per mediator, and every
//! buffer its requests point at.
//!
//! The io-uring crate's `push` is `unsafe` because the kernel reads and
//! writes the memory an SQE points at until the request completes, long
//! after `push` returns. [`Ring`] makes that safe by owning all of it: a
//! request's `msghdr`, iovec, control buffer, message bytes and attached fds
//! live in a `Box` in the ring's table of requests in flight (a `Slab` whose
//! key is the SQE's `user_data`) and are dropped only when the request's
//! completion has been reaped. Receive buffers are one pool the ring owns,
//! lent to the kernel as provided buffers (`IORING_OP_PROVIDE_BUFFERS`,
//! group 0, one buffer per message) and lent again once the message was
//! handled. Dropping a `Ring` cancels every request and waits for every
//! completion before any of that memory is freed.
//!
//! Fds are named by number in SQEs. The kernel takes its own reference to
//! the file when it issues a request, so a request never touches a closed
//! file; but a number closed before its SQE was submitted could name a new
//! file by then. So the caller keeps an fd open while [`Ring::in_flight`]
//! says requests on it are pending, and before closing one shuts a socket
//! down and calls [`Ring::cancel_fd`].
//!
//! Sends to one socket that must arrive in order go as one linked chain
//! ([`Ring::send_chain`], `IOSQE_IO_LINK`), which the kernel runs one after
//! the other; a chain is pushed whole or parked whole, never split across
//! two submissions.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use slab::Slab;

use crate::sys::channel::{cmsg_space, take_control, Control, Received, CONTROL_MAX, SCM_MAX_FD};

/// The provided-buffer group the ring's receive pool is lent as.
const BUF_GROUP: u16 = 0;

/// A message to send: bytes and the fds to attach (`SCM_RIGHTS`).
#[derive(Debug, Default)]
pub struct Message {
    /// The bytes, one `SOCK_SEQPACKET` message.
    pub bytes: Vec<u8>,
    /// Fds to attach, at most [`SCM_MAX_FD`]; closed once the send completes.
    pub fds: Vec<OwnedFd>,
}

/// What a reaped completion says, for the request's `tag`.
#[derive(Debug)]
pub enum Completion<'a> {
    /// A [`Ring::recvmsg`] got a message (or end of file: `full_len == 0`
    /// and no fds). `data` is `got.len` bytes of the pool, lent for the
    /// callback only.
    Message {
        /// The request's tag.
        tag: u64,
        /// Lengths, flags, fds and credentials, as [`Channel::recv`](crate::sys::channel::Channel::recv) reports them.
        got: Received,
        /// The message bytes.
        data: &'a [u8],
    },
    /// A [`Ring::recvmsg`] failed: `ENOBUFS` (every pool buffer was in use;
    /// the message is still queued, arm again), `ECANCELED`, or the socket's
    /// error.
    RecvFailed {
        /// The request's tag.
        tag: u64,
        /// Why.
        err: io::Error,
    },
    /// One message of a [`Ring::send_chain`] was sent or failed (after a
    /// failure the rest of its chain fails with `ECANCELED`).
    Sent {
        /// The request's tag.
        tag: u64,
        /// `Ok` once the whole message went.
        result: io::Result<()>,
    },
    /// A [`Ring::accept`] completed.
    Accepted {
        /// The request's tag.
        tag: u64,
        /// The new connection (`O_CLOEXEC`).
        result: io::Result<OwnedFd>,
    },
    /// A [`Ring::poll_readable`] completed: the fd is readable (or hung up).
    Ready {
        /// The request's tag.
        tag: u64,
        /// `Err` when the poll failed or was cancelled.
        result: io::Result<()>,
    },
    /// A [`Ring::cancel_fd`] completed (it counts in [`Ring::in_flight`]).
    Cancelled {
        /// The request's tag.
        tag: u64,
    },
}

/// A `recvmsg` request's header and control buffer. Boxed, so the
/// addresses handed to the kernel stay put while the table grows.
#[repr(C)]
struct RecvHdr {
    msg: libc::msghdr,
    control: Control,
}

/// A `sendmsg` request's header and everything it points at.
struct SendHdr {
    msg: libc::msghdr,
    iov: libc::iovec,
    /// `SCM_RIGHTS` control message, `u64`s for `cmsghdr` alignment.
    control: Vec<u64>,
    /// Kept alive until completion: the kernel reads them at issue.
    message: Message,
}

/// What a request in flight owns, by kind.
enum Op {
    Recv(Box<RecvHdr>),
    // Held only so that the memory outlives the request.
    Send(#[allow(dead_code)] Box<SendHdr>),
    Accept,
    Poll,
    Cancel,
    /// Lending pool buffers back to the kernel; not reported.
    Provide,
}

struct InFlight {
    tag: u64,
    op: Op,
}

/// An io_uring with the requests in flight and the receive pool.
pub struct Ring {
    ring: IoUring,
    ops: Slab<InFlight>,
    /// Requests in flight per tag.
    per_tag: HashMap<u64, u32>,
    /// Groups of SQEs that did not fit the submission queue, oldest first;
    /// a group (a linked chain) is pushed whole.
    backlog: VecDeque<Vec<squeue::Entry>>,
    /// Completions copied out of the queue before they are handled.
    reaped: Vec<cqueue::Entry>,
    /// The receive pool: `nbufs` buffers of `buf_len` bytes, one heap
    /// block owned here and freed in `Drop` (after every request is done).
    /// Only raw pointers to it exist, except the one buffer lent to a
    /// completion callback, which the kernel does not hold meanwhile.
    pool: NonNull<u8>,
    pool_len: usize,
    buf_len: usize,
    nbufs: u16,
}

fn errno(rc: i32) -> io::Error {
    io::Error::from_raw_os_error(rc.saturating_neg())
}

fn res(rc: i32) -> io::Result<u32> {
    u32::try_from(rc).map_err(|_| errno(rc))
}

impl Ring {
    /// `io_uring_setup(entries)`, then lends the kernel a receive pool of
    /// `nbufs` buffers of `buf_len` bytes each (a buffer must hold the
    /// largest message plus one byte, so that a longer one shows as
    /// truncated).
    ///
    /// Fails where io_uring is unavailable or forbidden (`ENOSYS`, `EPERM`
    /// from a seccomp filter or `kernel.io_uring_disabled`), or lacks
    /// provided buffers.
    pub fn new(entries: u32, nbufs: u16, buf_len: usize) -> io::Result<Ring> {
        let cq = entries.saturating_mul(8);
        let ring = match IoUring::builder()
            .setup_cqsize(cq)
            .setup_submit_all()
            .build(entries)
        {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::new(entries)?,
            Err(e) => return Err(e),
        };
        if !ring.params().is_feature_nodrop() {
            return Err(io::Error::other(
                "io_uring lacks IORING_FEAT_NODROP (Linux 5.5); completions could be lost",
            ));
        }
        let buf_len_i32 = i32::try_from(buf_len).map_err(io::Error::other)?;
        let total = buf_len
            .checked_mul(usize::from(nbufs))
            .ok_or_else(|| io::Error::other("receive pool too large"))?;
        let pool: &mut [u8] = Box::leak(vec![0u8; total].into_boxed_slice());
        let pool = NonNull::new(pool.as_mut_ptr()).unwrap_or(NonNull::dangling());
        let mut me = Ring {
            ring,
            ops: Slab::new(),
            per_tag: HashMap::new(),
            backlog: VecDeque::new(),
            reaped: Vec::new(),
            pool,
            pool_len: total,
            buf_len,
            nbufs,
        };
        let entry =
            opcode::ProvideBuffers::new(me.pool.as_ptr(), buf_len_i32, nbufs, BUF_GROUP, 0).build();
        me.push_one(u64::MAX, Op::Provide, entry);
        me.ring.submit_and_wait(1)?;
        let cqe = me
            .ring
            .completion()
            .next()
            .ok_or_else(|| io::Error::other("io_uring: no completion for PROVIDE_BUFFERS"))?;
        me.finish(cqe.user_data());
        res(cqe.result())?;
        Ok(me)
    }

    /// Requests in flight for `tag` (an fd must stay open while any are).
    pub fn in_flight(&self, tag: u64) -> u32 {
        self.per_tag.get(&tag).copied().unwrap_or(0)
    }

    /// Requests in flight in all.
    pub fn total_in_flight(&self) -> usize {
        self.ops.len()
    }

    /// Adds `op` to the table and returns its `user_data`.
    fn track(&mut self, tag: u64, op: Op) -> u64 {
        if !matches!(op, Op::Provide) {
            *self.per_tag.entry(tag).or_default() += 1;
        }
        self.ops.insert(InFlight { tag, op }) as u64
    }

    /// Removes a finished request; its memory is dropped here.
    fn finish(&mut self, user_data: u64) -> Option<InFlight> {
        let f = usize::try_from(user_data)
            .ok()
            .and_then(|k| self.ops.try_remove(k))?;
        if !matches!(f.op, Op::Provide) {
            if let Some(n) = self.per_tag.get_mut(&f.tag) {
                *n -= 1;
                if *n == 0 {
                    self.per_tag.remove(&f.tag);
                }
            }
        }
        Some(f)
    }

    /// Pushes one tracked request.
    fn push_one(&mut self, tag: u64, op: Op, entry: squeue::Entry) {
        let key = self.track(tag, op);
        self.push_group(vec![entry.user_data(key)]);
    }

    /// Pushes a group of SQEs whole, or parks it whole in the backlog.
    fn push_group(&mut self, group: Vec<squeue::Entry>) {
        if self.backlog.is_empty() && self.try_push(&group) {
            return;
        }
        self.backlog.push_back(group);
    }

    fn try_push(&mut self, group: &[squeue::Entry]) -> bool {
        // SAFETY: every pointer in these SQEs points into memory this ring
        // owns and keeps unmoved until the request's completion is reaped:
        // a `Box` in `self.ops` under the SQE's `user_data`, the `Vec`s and
        // fds inside it, or `self.pool`. Nothing is freed before its
        // completion (see `finish`, and `Drop`, which drains every request).
        unsafe { self.ring.submission().push_multiple(group) }.is_ok()
    }

    /// Arms a `recvmsg(fd, MSG_CMSG_CLOEXEC | MSG_TRUNC)` into a pool buffer,
    /// with room for [`SCM_MAX_FD`] fds and `SCM_CREDENTIALS`.
    pub fn recvmsg(&mut self, fd: BorrowedFd<'_>, tag: u64) {
        // SAFETY: `msghdr` is plain data (integers and pointers); all zeroes
        // is a valid, empty header.
        let msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let mut hdr = Box::new(RecvHdr {
            msg,
            control: Control([0; CONTROL_MAX]),
        });
        // No iovec: with IOSQE_BUFFER_SELECT the kernel receives into a
        // whole pool buffer it picks.
        hdr.msg.msg_control = hdr.control.0.as_mut_ptr().cast();
        // `msg_controllen` is `size_t` on glibc, `socklen_t` on musl.
        #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
        let controllen = CONTROL_MAX.try_into().unwrap_or_default();
        hdr.msg.msg_controllen = controllen;
        let msg_ptr: *mut libc::msghdr = ptr::addr_of_mut!(hdr.msg);
        let flags = (libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC).unsigned_abs();
        let entry = opcode::RecvMsg::new(types::Fd(fd.as_raw_fd()), msg_ptr)
            .flags(flags)
            .buf_group(BUF_GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT);
        self.push_one(tag, Op::Recv(hdr), entry);
    }

    /// Sends `messages` on `fd` in order, as one linked chain of `sendmsg(fd,
    /// MSG_NOSIGNAL)`: each waits for room in the socket, and each reports a
    /// [`Completion::Sent`]. A message carries at most [`SCM_MAX_FD`] fds:
    /// the caller checks that (any more would not be attached).
    pub fn send_chain(&mut self, fd: BorrowedFd<'_>, tag: u64, messages: Vec<Message>) {
        let n = messages.len();
        let mut group = Vec::with_capacity(n);
        for (i, message) in messages.into_iter().enumerate() {
            let hdr = send_hdr(message);
            let msg_ptr: *const libc::msghdr = ptr::addr_of!(hdr.msg);
            let mut entry = opcode::SendMsg::new(types::Fd(fd.as_raw_fd()), msg_ptr)
                .flags(libc::MSG_NOSIGNAL.unsigned_abs())
                .build();
            if i + 1 < n {
                entry = entry.flags(squeue::Flags::IO_LINK);
            }
            let key = self.track(tag, Op::Send(hdr));
            group.push(entry.user_data(key));
        }
        if !group.is_empty() {
            self.push_group(group);
        }
    }

    /// Arms an `accept4(fd, NULL, NULL, SOCK_CLOEXEC)`.
    pub fn accept(&mut self, fd: BorrowedFd<'_>, tag: u64) {
        let entry =
            opcode::Accept::new(types::Fd(fd.as_raw_fd()), ptr::null_mut(), ptr::null_mut())
                .flags(libc::SOCK_CLOEXEC)
                .build();
        self.push_one(tag, Op::Accept, entry);
    }

    /// Arms a one-shot `poll(fd, POLLIN)`.
    pub fn poll_readable(&mut self, fd: BorrowedFd<'_>, tag: u64) {
        let flags = u32::try_from(libc::POLLIN).unwrap_or(1);
        let entry = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), flags).build();
        self.push_one(tag, Op::Poll, entry);
    }

    /// `IORING_OP_ASYNC_CANCEL` of every request on `fd`
    /// (`IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL`, Linux 5.19). The
    /// cancelled requests complete with `ECANCELED` (or finish normally if
    /// they were already done).
    pub fn cancel_fd(&mut self, fd: BorrowedFd<'_>, tag: u64) {
        let entry =
            opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd.as_raw_fd())).all())
                .build();
        self.push_one(tag, Op::Cancel, entry);
    }

    /// One pass's `io_uring_enter`: submits everything pushed (parked groups
    /// first, as they fit) and waits for at least `want` completions. Only
    /// when more than a submission queue's worth was pushed does it enter
    /// more than once. `EINTR` and `EBUSY` (completions must be reaped
    /// first) return `Ok`.
    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        loop {
            while let Some(group) = self.backlog.front() {
                if group.len() > self.ring.params().sq_entries() as usize {
                    // Cannot ever fit: split it (chains are kept short, so
                    // this does not happen in practice).
                    let mut group = self.backlog.pop_front().unwrap_or_default();
                    let rest = group.split_off(group.len() / 2);
                    self.backlog.push_front(rest);
                    self.backlog.push_front(group);
                    continue;
                }
                let group = self.backlog.pop_front().unwrap_or_default();
                if !self.try_push(&group) {
                    self.backlog.push_front(group);
                    break;
                }
            }
            let more = !self.backlog.is_empty();
            match self.ring.submit_and_wait(if more { 0 } else { want }) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
                Err(e) => return Err(e),
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Reaps every completion waiting, calling `f` for each reported one.
    /// A message's pool buffer is lent back to the kernel once `f` returns,
    /// ahead of any request pushed after this call.
    pub fn complete(&mut self, mut f: impl FnMut(Completion<'_>)) {
        let mut reaped = std::mem::take(&mut self.reaped);
        reaped.clear();
        reaped.extend(self.ring.completion());
        for cqe in &reaped {
            let Some(InFlight { tag, op }) = self.finish(cqe.user_data()) else {
                continue;
            };
            let rc = cqe.result();
            match op {
                Op::Provide => {}
                Op::Cancel => f(Completion::Cancelled { tag }),
                Op::Poll => f(Completion::Ready {
                    tag,
                    result: res(rc).map(drop),
                }),
                Op::Accept => {
                    let result = res(rc).and_then(|raw| {
                        let raw = i32::try_from(raw).map_err(io::Error::other)?;
                        // SAFETY: a successful accept completion is a new fd
                        // the kernel installed in our table for us alone.
                        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
                    });
                    f(Completion::Accepted { tag, result });
                }
                Op::Send(_) => f(Completion::Sent {
                    tag,
                    result: res(rc).map(drop),
                }),
                Op::Recv(hdr) => {
                    let bid = cqueue::buffer_select(cqe.flags()).filter(|&b| b < self.nbufs);
                    match res(rc) {
                        Err(err) => f(Completion::RecvFailed { tag, err }),
                        Ok(n) => self.received(tag, &hdr, n, bid, &mut f),
                    }
                    if let Some(b) = bid {
                        self.lend(b);
                    }
                }
            }
        }
        self.reaped = reaped;
    }

    /// Reports a message received into pool buffer `bid`.
    fn received(
        &self,
        tag: u64,
        hdr: &RecvHdr,
        n: u32,
        bid: Option<u16>,
        f: &mut impl FnMut(Completion<'_>),
    ) {
        let full_len = usize::try_from(n).unwrap_or(usize::MAX);
        // The kernel wrote `msg_flags` and `msg_controllen` back into our
        // header, and the control messages into its buffer.
        let (fds, cred) = take_control(&hdr.msg);
        let truncated = hdr.msg.msg_flags & libc::MSG_TRUNC != 0 || full_len > self.buf_len;
        let ctrunc = hdr.msg.msg_flags & libc::MSG_CTRUNC != 0;
        let data: &[u8] = match bid {
            Some(b) => {
                let len = full_len.min(self.buf_len);
                // SAFETY: `b < nbufs`, so the `len <= buf_len` bytes at
                // `b * buf_len` lie inside the pool allocation, which lives
                // until `Drop`. The kernel just wrote them and gave buffer
                // `b` back to us with this completion; it is lent again only
                // after `f` returns, so nothing writes it while the slice
                // lives. No other reference into the pool exists.
                unsafe {
                    std::slice::from_raw_parts(
                        self.pool.as_ptr().add(usize::from(b) * self.buf_len),
                        len,
                    )
                }
            }
            // A message with no data (end of file) picks no buffer.
            None => &[],
        };
        let got = Received {
            len: data.len(),
            full_len,
            fds,
            cred,
            truncated,
            ctrunc,
        };
        f(Completion::Message { tag, got, data });
    }

    /// Lends pool buffer `bid` back to the kernel.
    fn lend(&mut self, bid: u16) {
        let start = usize::from(bid) * self.buf_len;
        if bid >= self.nbufs || start >= self.pool_len {
            return;
        }
        // SAFETY: `start` lies inside the pool allocation (checked above);
        // this only computes an address.
        let addr = unsafe { self.pool.as_ptr().add(start) };
        let len = i32::try_from(self.buf_len).unwrap_or(i32::MAX);
        let entry = opcode::ProvideBuffers::new(addr, len, 1, BUF_GROUP, bid).build();
        self.push_one(u64::MAX, Op::Provide, entry);
    }
}

/// Builds a `sendmsg` header for `message`: one iovec over its bytes and an
/// `SCM_RIGHTS` control message for its fds.
fn send_hdr(message: Message) -> Box<SendHdr> {
    debug_assert!(message.fds.len() <= SCM_MAX_FD, "checked by the caller");
    let nfds = message.fds.len().min(SCM_MAX_FD);
    let space = if nfds == 0 {
        0
    } else {
        cmsg_space(nfds * size_of::<libc::c_int>())
    };
    // SAFETY: `msghdr` and `iovec` are plain data; all zeroes is valid.
    let (msg, iov) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    let mut hdr = Box::new(SendHdr {
        msg,
        iov,
        control: vec![0u64; space.div_ceil(size_of::<u64>())],
        message,
    });
    hdr.iov.iov_base = hdr.message.bytes.as_mut_ptr().cast();
    hdr.iov.iov_len = hdr.message.bytes.len();
    hdr.msg.msg_iov = ptr::addr_of_mut!(hdr.iov);
    hdr.msg.msg_iovlen = 1;
    if nfds > 0 {
        hdr.msg.msg_control = hdr.control.as_mut_ptr().cast();
        // `msg_controllen` and `cmsg_len` are `size_t` on glibc, `socklen_t` on musl.
        #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
        let controllen = space.try_into().unwrap_or_default();
        hdr.msg.msg_controllen = controllen;
        // SAFETY: the control buffer is `space` bytes, 8-byte aligned, which
        // is exactly CMSG_SPACE(nfds * 4): room for one header and the fds.
        // CMSG_FIRSTHDR returns its start (non-null, since controllen is at
        // least one header), CMSG_DATA the address just past the header.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(ptr::addr_of!(hdr.msg));
            let data_len = u32::try_from(nfds * size_of::<libc::c_int>()).unwrap_or(0);
            #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
            let cmsg_len = libc::CMSG_LEN(data_len).try_into().unwrap_or_default();
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = cmsg_len;
            let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            for (i, fd) in hdr.message.fds.iter().take(nfds).enumerate() {
                ptr::write_unaligned(data.add(i), fd.as_fd().as_raw_fd());
            }
        }
    }
    hdr
}

impl Drop for Ring {
    /// Cancels every request and reaps until none is in flight, so that no
    /// kernel write can land in memory freed after this; then frees the pool.
    fn drop(&mut self) {
        // Parked groups were never submitted: the kernel knows nothing of
        // them, so their memory may go with the table.
        for group in std::mem::take(&mut self.backlog) {
            for e in group {
                self.finish(e.get_user_data());
            }
        }
        let key = self.track(u64::MAX - 1, Op::Cancel);
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(key);
        if !self.try_push(&[cancel]) {
            self.finish(key);
        }
        // Bounded: a kernel that cannot cancel (no IORING_ASYNC_CANCEL_ANY)
        // must not hang the drop; what is still in flight then is leaked.
        let tick = types::Timespec::new().nsec(100_000_000);
        let args = types::SubmitArgs::new().timespec(&tick);
        for _ in 0..50 {
            if self.ops.is_empty() {
                break;
            }
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => break,
            }
            let done: Vec<u64> = self.ring.completion().map(|c| c.user_data()).collect();
            for ud in done {
                self.finish(ud);
            }
        }
        if !self.ops.is_empty() {
            // The kernel still holds requests into our memory: leaking it is
            // the only safe choice left.
            std::mem::forget(std::mem::take(&mut self.ops));
            return;
        }
        let pool = ptr::slice_from_raw_parts_mut(self.pool.as_ptr(), self.pool_len);
        // SAFETY: `pool` is exactly the allocation `Box::leak` gave up in
        // `new` (same pointer and length), freed once, here; no request is
        // in flight, so the kernel no longer writes it.
        drop(unsafe { Box::from_raw(pool) });
    }
}

// SAFETY: the ring, its table and its pool are owned outright (the pool
// pointer is a heap block only this `Ring` frees); nothing is tied to the
// creating thread, and the kernel's requests do not care which thread reaps.
unsafe impl Send for Ring {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::channel::Channel;

    fn ring(nbufs: u16) -> Option<Ring> {
        match Ring::new(64, nbufs, 4097) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("skipped: io_uring unavailable here ({e})");
                None
            }
        }
    }

    /// Submits and reaps until `n` reported completions arrived.
    fn collect(r: &mut Ring, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            r.submit_and_wait(1).unwrap();
            r.complete(|c| {
                out.push(match c {
                    Completion::Message { tag, got, data } => format!(
                        "msg {tag} {} full={} trunc={} fds={} cred={}",
                        String::from_utf8_lossy(data),
                        got.full_len,
                        got.truncated,
                        got.fds.len(),
                        got.cred.is_some()
                    ),
                    Completion::RecvFailed { tag, err } => {
                        format!("recvfail {tag} {:?}", err.raw_os_error())
                    }
                    Completion::Sent { tag, result } => {
                        format!("sent {tag} {:?}", result.map_err(|e| e.raw_os_error()))
                    }
                    Completion::Accepted { tag, result } => {
                        format!("accepted {tag} {}", result.is_ok())
                    }
                    Completion::Ready { tag, result } => format!("ready {tag} {}", result.is_ok()),
                    Completion::Cancelled { tag } => format!("cancelled {tag}"),
                })
            });
        }
        out
    }

    #[test]
    fn a_message_arrives_with_fds_credentials_and_truncation() {
        let Some(mut r) = ring(4) else { return };
        let (a, b) = Channel::pair().unwrap();
        b.set_passcred(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let memfd = crate::sys::memfd::memfd_create("u").unwrap();
        r.recvmsg(b.as_fd(), 7);
        assert_eq!(collect_nowait(&mut r), 0, "nothing to read yet: it waits");
        a.send(b"hello", &[memfd.as_fd(), memfd.as_fd()]).unwrap();
        assert_eq!(
            collect(&mut r, 1),
            ["msg 7 hello full=5 trunc=false fds=2 cred=true"]
        );
        a.send(&[b'x'; 5000], &[]).unwrap();
        r.recvmsg(b.as_fd(), 7);
        let got = collect(&mut r, 1);
        assert!(got[0].contains("full=5000 trunc=true"), "{got:?}");
        drop(a);
        r.recvmsg(b.as_fd(), 7);
        assert_eq!(
            collect(&mut r, 1),
            ["msg 7  full=0 trunc=false fds=0 cred=false"]
        );
        assert_eq!(r.in_flight(7), 0);
    }

    fn collect_nowait(r: &mut Ring) -> usize {
        r.submit_and_wait(0).unwrap();
        let mut n = 0;
        r.complete(|_| n += 1);
        n
    }

    #[test]
    fn a_chain_arrives_in_order_and_waits_for_room() {
        let Some(mut r) = ring(2) else { return };
        let (a, b) = Channel::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        // Fill a's send buffer so the chain must wait for room.
        let mut filled = 0;
        while a.try_send(&[0u8; 4096], &[]).is_ok() {
            filled += 1;
        }
        let memfd = crate::sys::memfd::create_blob("fd", b"attached").unwrap();
        let msgs = (0..5)
            .map(|i| Message {
                bytes: format!("m{i}").into_bytes(),
                fds: if i == 2 {
                    vec![memfd.try_clone().unwrap()]
                } else {
                    vec![]
                },
            })
            .collect();
        r.send_chain(a.as_fd(), 3, msgs);
        assert_eq!(
            collect_nowait(&mut r),
            0,
            "the socket is full: the chain waits"
        );
        assert_eq!(r.in_flight(3), 5);
        let mut buf = vec![0u8; 8192];
        for _ in 0..filled {
            b.recv(&mut buf, 0).unwrap();
        }
        let sent = collect(&mut r, 5);
        assert!(sent.iter().all(|s| s == "sent 3 Ok(())"), "{sent:?}");
        for i in 0..5 {
            let got = b.recv(&mut buf, 4).unwrap();
            assert_eq!(&buf[..got.len], format!("m{i}").as_bytes());
            assert_eq!(got.fds.len(), usize::from(i == 2));
        }
    }

    #[test]
    fn cancel_ends_a_pending_recv_and_shutdown_ends_a_pending_send() {
        let Some(mut r) = ring(2) else { return };
        let (a, _b) = Channel::pair().unwrap();
        r.recvmsg(a.as_fd(), 1);
        r.submit_and_wait(0).unwrap();
        r.cancel_fd(a.as_fd(), 1);
        let got = collect(&mut r, 2);
        assert!(
            got.contains(&format!("recvfail 1 Some({})", libc::ECANCELED)),
            "{got:?}"
        );
        assert!(got.contains(&"cancelled 1".to_string()), "{got:?}");
        assert_eq!(r.in_flight(1), 0);

        let (c, _d) = Channel::pair().unwrap();
        c.set_nonblocking(true).unwrap();
        while c.try_send(&[0u8; 4096], &[]).is_ok() {}
        r.send_chain(
            c.as_fd(),
            2,
            vec![Message {
                bytes: b"stuck".to_vec(),
                fds: vec![],
            }],
        );
        r.recvmsg(c.as_fd(), 2);
        r.submit_and_wait(0).unwrap();
        c.shutdown().unwrap();
        r.cancel_fd(c.as_fd(), 2);
        let got = collect(&mut r, 3);
        assert_eq!(r.in_flight(2), 0, "{got:?}");
    }

    #[test]
    fn an_exhausted_pool_is_enobufs_and_the_message_waits() {
        let Some(mut r) = ring(1) else { return };
        let (a1, b1) = Channel::pair().unwrap();
        let (a2, b2) = Channel::pair().unwrap();
        a1.send(b"one", &[]).unwrap();
        a2.send(b"two", &[]).unwrap();
        r.recvmsg(b1.as_fd(), 1);
        r.recvmsg(b2.as_fd(), 2);
        let got = collect(&mut r, 2);
        assert!(
            got.contains(&"msg 1 one full=3 trunc=false fds=0 cred=false".to_string()),
            "{got:?}"
        );
        assert!(
            got.contains(&format!("recvfail 2 Some({})", libc::ENOBUFS)),
            "{got:?}"
        );
        // The buffer is lent again; the message was not lost.
        r.recvmsg(b2.as_fd(), 2);
        assert_eq!(
            collect(&mut r, 1),
            ["msg 2 two full=3 trunc=false fds=0 cred=false"]
        );
    }

    #[test]
    fn accept_and_poll_complete() {
        let Some(mut r) = ring(1) else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.sock");
        let l = crate::sys::channel::Listener::bind(&path).unwrap();
        r.accept(l.as_fd(), 5);
        let _c = Channel::connect(&path).unwrap();
        assert_eq!(collect(&mut r, 1), ["accepted 5 true"]);
        let (p, q) = rustix::pipe::pipe().unwrap();
        r.poll_readable(p.as_fd(), 6);
        assert_eq!(collect_nowait(&mut r), 0);
        rustix::io::write(&q, b"x").unwrap();
        assert_eq!(collect(&mut r, 1), ["ready 6 true"]);
    }

    #[test]
    fn dropping_the_ring_with_requests_in_flight_is_safe() {
        let Some(mut r) = ring(4) else { return };
        let (a, _b) = Channel::pair().unwrap();
        for t in 0..4 {
            r.recvmsg(a.as_fd(), t);
        }
        r.submit_and_wait(0).unwrap();
        assert_eq!(r.total_in_flight(), 4);
        drop(r);
    }
}
