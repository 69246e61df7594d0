//! Failures: what went wrong with a command, as data. Each variant names the
//! handle, the sizes and the limit at fault, so the person reading the error
//! knows what to change. The same value travels in `FailedReply` and `Error`
//! returns and prints the same way on both sides.

use serde::{Deserialize, Serialize};

use crate::protocol::{Handle, Rights, TxnId};

/// Which side of a call a failure concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The call.
    Request,
    /// The reply.
    Reply,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Request => "request",
            Side::Reply => "reply",
        })
    }
}

/// A process holding part of a full receive buffer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The sender whose transactions hold the space.
    pub pid: i32,
    /// Bytes it holds.
    pub bytes: u64,
}

/// What failed, and why. Displayed as a sentence a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Failure {
    /// The handle is not in this process's table (forged, stale or foreign).
    #[error("{0} is not in this process's handle table (never given to it, or already released)")]
    BadHandle(Handle),
    /// No process holds the context manager role.
    #[error("handle 0: no context manager is registered yet")]
    NoContextManager,
    /// The handle lacks a right the command needs.
    #[error("{handle} lacks the {needed} right (it holds {held})")]
    NoRight {
        /// The handle.
        handle: Handle,
        /// What was needed.
        needed: Rights,
        /// What it has.
        held: Rights,
    },
    /// The payload does not fit the receiver's buffer.
    #[error("{side} of {size} bytes does not fit pid {pid}'s receive buffer: {free} bytes free of {total}{}", holders_text(.holders))]
    BufferFull {
        /// Request or reply.
        side: Side,
        /// The payload size.
        size: u64,
        /// Receiver's pid.
        pid: i32,
        /// Largest free range.
        free: u64,
        /// Buffer size.
        total: u64,
        /// The senders holding the most of it.
        holders: Vec<Holder>,
    },
    /// Oneway calls may use at most half of a receive buffer.
    #[error("oneway call of {size} bytes exceeds the async space of pid {pid}: {free} of {limit} bytes free (oneway calls may use half the receive buffer){}", holders_text(.holders))]
    AsyncSpaceFull {
        /// The payload size.
        size: u64,
        /// Receiver's pid.
        pid: i32,
        /// Async bytes free.
        free: u64,
        /// Async limit (half the buffer).
        limit: u64,
        /// The senders holding the most of it.
        holders: Vec<Holder>,
    },
    /// The payload range lies outside the send area.
    #[error(
        "{side} payload at offset {offset} length {len} lies outside the {area}-byte send area"
    )]
    DataOutOfBounds {
        /// Request or reply.
        side: Side,
        /// Offset given.
        offset: u64,
        /// Length given.
        len: u64,
        /// Send area size.
        area: u64,
    },
    /// A splice names bytes the sender may not pass on: outside the
    /// payload, out of order, or not in a range delivered to it and not yet
    /// freed.
    #[error("{side} splice {index}: {why}")]
    BadSplice {
        /// Request or reply.
        side: Side,
        /// Position of the splice in the list.
        index: usize,
        /// What is wrong with it.
        why: String,
    },
    /// Too many objects in one transaction.
    #[error("{count} objects in one transaction; the limit is {limit}")]
    TooManyObjects {
        /// Objects given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many file descriptors in one transaction.
    #[error("{count} file descriptors in one transaction; the limit is {limit}")]
    TooManyFds {
        /// Fds given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An fd object names an fd index that was not attached, or one twice.
    #[error("object {object} names fd index {index}, but {attached} fds came with the message (or the index was used twice)")]
    BadFdIndex {
        /// Position of the object in the side table.
        object: usize,
        /// The index it names.
        index: u32,
        /// Fds that came with the message.
        attached: usize,
    },
    /// Fds came with the message that no object refers to.
    #[error("{count} attached file descriptors are not referred to by any object")]
    UnclaimedFds {
        /// Fds left over.
        count: usize,
    },
    /// The target does not accept fds.
    #[error("the {side} carries file descriptors but {what} does not accept them")]
    FdsNotAccepted {
        /// Request or reply.
        side: Side,
        /// "the target node" or "the caller".
        what: String,
    },
    /// A weak handle cannot be sent as a strong reference.
    #[error("{0} is held only weakly here and cannot be sent as a strong reference")]
    WeakHandleSentStrong(Handle),
    /// A strong reference cannot be taken on an object whose owner let go.
    #[error(
        "{0}: the object has no strong references left, so a weak reference cannot be promoted"
    )]
    PromotionFailed(Handle),
    /// A binder object reuses a live node's `ptr` with another cookie.
    #[error("object {object}: ptr {ptr:#x} is already a node with another cookie")]
    CookieMismatch {
        /// Position of the object in the side table.
        object: usize,
        /// The ptr.
        ptr: u64,
    },
    /// Sending a binder object one does not own.
    #[error("object {0} is a Binder but only its owner may send a Binder; send a Handle instead")]
    NotOwner(usize),
    /// A limit on the number of refs in one process.
    #[error("pid {pid} already holds {limit} references (the per-process limit)")]
    TooManyRefs {
        /// The process that would exceed it.
        pid: i32,
        /// The limit.
        limit: usize,
    },
    /// A limit on pending transactions from one process.
    #[error(
        "pid {pid} already has {limit} calls pending (the per-process limit); wait for replies"
    )]
    TooManyPending {
        /// The flooding process.
        pid: i32,
        /// The limit.
        limit: usize,
    },
    /// A limit on fds in flight from one process.
    #[error("pid {pid} already has {limit} file descriptors in flight (the per-process limit)")]
    TooManyFdsInFlight {
        /// The flooding process.
        pid: i32,
        /// The limit.
        limit: usize,
    },
    /// A reply when nothing is waiting for one on this thread.
    #[error("reply with no transaction to answer on this thread")]
    NoTransactionToReply,
    /// A new call while this thread waits for a reply (its stack's top is
    /// a call it sent), which no correct client does.
    #[error(
        "{0} is still waiting for its reply on this thread; a thread makes one call at a time"
    )]
    ThreadBusy(TxnId),
    /// Freeing a range that was never delivered, or twice.
    #[error(
        "free of offset {0}: no delivered buffer starts there (double free, or never delivered)"
    )]
    BadFree(u64),
    /// A reference count would go below zero.
    #[error("{handle}: {kind} reference count is already zero")]
    RefUnderflow {
        /// The handle.
        handle: Handle,
        /// "strong" or "weak".
        kind: String,
    },
    /// An acknowledgement for something never asked.
    #[error("{what} for node {ptr:#x}: no such request is outstanding")]
    UnexpectedAck {
        /// Which acknowledgement.
        what: String,
        /// The node.
        ptr: u64,
    },
    /// A death subscription problem.
    #[error("death notification: {0}")]
    Death(String),
    /// A freeze subscription problem.
    #[error("freeze notification: {0}")]
    FreezeNotice(String),
    /// The looper protocol was broken.
    #[error("looper: {0}")]
    Looper(String),
    /// A privileged command from an unprivileged process.
    #[error("{0} needs a privileged caller")]
    NotPrivileged(String),
    /// Handle 0 is already claimed.
    #[error("the context manager is already pid {0}")]
    ContextManagerTaken(i32),
    /// The configuration names another uid as context manager.
    #[error("only uid {allowed} may become the context manager (caller has uid {uid})")]
    ContextManagerDenied {
        /// The allowed uid.
        allowed: u32,
        /// The caller's uid.
        uid: u32,
    },
    /// No process with that pid.
    #[error("no connected process has pid {0}")]
    NoSuchProcess(i32),
    /// Freezing a process that has calls to finish: sync calls queued or
    /// being served, oneway calls queued.
    #[error(
        "pid {pid} has {count} calls to finish (sync calls queued or being served, oneway calls \
         queued); freeze again once they complete, or freeze with a timeout"
    )]
    FreezeBusy {
        /// The target.
        pid: i32,
        /// Calls not finished.
        count: usize,
    },
    /// A thread limit: a thread registering past the cap, or a pool
    /// maximum set above it.
    #[error("pid {pid}: at most {limit} threads per process (the thread cap)")]
    TooManyThreads {
        /// The process.
        pid: i32,
        /// The cap.
        limit: usize,
    },
    /// A blob or shared-memory object is too large.
    #[error("blob of {len} bytes exceeds the {limit}-byte limit")]
    BlobTooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A blob or shared-memory object's memfd is not as its object says
    /// (seals missing, shorter than named): checked on the fd by the
    /// mediator's I/O layer, which hands the refusal to the core.
    #[error("object {object}: {why}")]
    BadMemfd {
        /// Position of the object in the side table.
        object: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The answer to a `DumpState` is larger than one message may be
    /// (every process of a large system, seen by a privileged viewer):
    /// the dump is not sent, this is, in its place.
    #[error("the state dump is {len} bytes, over the {limit}-byte limit of one message")]
    StateTooLarge {
        /// Its encoded size.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A topic command or publish was refused.
    #[error("topic: {0}")]
    Topic(String),
    /// The mediator's transport (not the core) refused something.
    #[error("{0}")]
    Transport(String),
    /// A call's target handle is held only weakly (binder refuses a
    /// transaction to a handle without a strong reference).
    #[error(
        "{0} is held only weakly here: take a strong reference (promote it) before calling it"
    )]
    WeakHandleCalled(Handle),
    /// A direct channel cannot be granted or used; the call goes through
    /// the mediator instead.
    #[error("no direct channel: {0}")]
    DirectUnavailable(String),
}

fn holders_text(h: &[Holder]) -> String {
    if h.is_empty() {
        return String::new();
    }
    let list: Vec<String> = h
        .iter()
        .map(|h| format!("pid {} holds {} bytes", h.pid, h.bytes))
        .collect();
    format!("; {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_buffer_error_names_size_limit_and_holders() {
        let e = Failure::BufferFull {
            side: Side::Request,
            size: 4096,
            pid: 42,
            free: 100,
            total: 1 << 20,
            holders: vec![Holder {
                pid: 7,
                bytes: 900_000,
            }],
        };
        let s = e.to_string();
        assert!(s.contains("request of 4096 bytes"), "{s}");
        assert!(s.contains("pid 7 holds 900000 bytes"), "{s}");
        assert!(s.contains("1048576"), "{s}");
    }
}
