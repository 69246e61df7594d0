//! The wire vocabulary between a process and the mediator: the commands a
//! process writes (binder's `BC_*`) and the returns it reads (`BR_*`), the
//! objects a transaction carries, and the handshake.
//!
//! These types are serde-serializable; the mediator and the client device
//! encode them with postcard. `docs/protocol.md` describes the same set for
//! readers of the wire, with the version in [`PROTOCOL_MAJOR`].

use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::state::StateDump;

/// Protocol major version: a peer with another major is refused at connect.
pub const PROTOCOL_MAJOR: u16 = 8;
/// Protocol minor version: additions a peer may ignore.
pub const PROTOCOL_MINOR: u16 = 2;

/// Feature bits exchanged in the handshake.
pub mod features {
    /// Payloads and objects may travel as sealed memfd blobs.
    pub const BLOBS: u64 = 1 << 0;
    /// The mediator can freeze processes (calls get a frozen reply).
    pub const FREEZE: u64 = 1 << 1;
    /// Priority migration is applied (the mediator holds CAP_SYS_NICE).
    pub const PRIORITY_MIGRATION: u64 = 1 << 2;
    /// A process can subscribe to an object's owner being frozen and
    /// thawed (`RequestFreezeNotice`, binder's
    /// `BC_REQUEST_FREEZE_NOTIFICATION`).
    pub const FREEZE_NOTIFICATIONS: u64 = 1 << 3;
}

/// A handle names a node in one process's handle table. It carries a
/// generation so that a stale handle never finds a newer object; handle 0 is
/// the context manager in every process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Handle(pub u64);

impl Handle {
    /// The context manager (the service manager), whichever process holds
    /// that role now.
    pub const CONTEXT_MANAGER: Handle = Handle(0);
}

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            write!(f, "handle 0")
        } else {
            write!(f, "handle {}.{}", self.0 & 0xffff_ffff, self.0 >> 32)
        }
    }
}

/// What a handle lets its holder do. Rights only narrow when a handle is
/// passed on: the receiver gets `sent & held`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rights(pub u8);

impl Rights {
    /// Make transactions on the node.
    pub const CALL: Rights = Rights(1);
    /// Pass the handle on to another process.
    pub const TRANSFER: Rights = Rights(2);
    /// Subscribe to the node's death.
    pub const LINK_DEATH: Rights = Rights(4);
    /// Publish to a topic (used by multicast topics).
    pub const PUBLISH: Rights = Rights(8);
    /// Subscribe to a topic (used by multicast topics).
    pub const SUBSCRIBE: Rights = Rights(16);
    /// Every right.
    pub const ALL: Rights = Rights(0x1f);
    /// No right at all.
    pub const NONE: Rights = Rights(0);

    /// Whether every right in `other` is in `self`.
    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights in both.
    pub fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }
}

impl std::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}

impl std::fmt::Display for Rights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Rights::CALL, "call"),
            (Rights::TRANSFER, "transfer"),
            (Rights::LINK_DEATH, "link-death"),
            (Rights::PUBLISH, "publish"),
            (Rights::SUBSCRIBE, "subscribe"),
        ];
        let mut first = true;
        for (r, n) in names {
            if self.contains(r) {
                if !first {
                    f.write_str("+")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Who a process is, as the kernel told the mediator at connect time. The
/// core never takes identity from what a client writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cred {
    /// Process id (global pid namespace).
    pub pid: i32,
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Group id.
    pub gid: u32,
    /// Security label (LSM label, or the sandbox's app name), if any.
    pub label: Option<String>,
    /// Whether the process may freeze others and see everyone's state
    /// (root or, for the sandbox launcher, a configured uid).
    pub privileged: bool,
}

/// A Linux scheduling policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchedPolicy {
    /// SCHED_OTHER: time sharing, ranked by nice.
    Normal,
    /// SCHED_BATCH.
    Batch,
    /// SCHED_IDLE.
    Idle,
    /// SCHED_FIFO real time.
    Fifo,
    /// SCHED_RR real time.
    RoundRobin,
}

/// A thread's scheduling attributes as binder migrates them: policy plus
/// nice (for time sharing) or real-time priority 1..=99.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Priority {
    /// Scheduling policy.
    pub policy: SchedPolicy,
    /// Nice value, -20..=19, for the time-sharing policies.
    pub nice: i8,
    /// Real-time priority, 1..=99, for FIFO and RR.
    pub rt: u8,
}

impl Default for Priority {
    fn default() -> Self {
        Priority {
            policy: SchedPolicy::Normal,
            nice: 0,
            rt: 0,
        }
    }
}

impl Priority {
    /// A single rank where higher runs first: every real-time priority
    /// ranks above every time-sharing one, and lower nice ranks higher.
    pub fn rank(&self) -> i32 {
        match self.policy {
            SchedPolicy::Fifo | SchedPolicy::RoundRobin => 100 + i32::from(self.rt),
            SchedPolicy::Normal | SchedPolicy::Batch => 20 - i32::from(self.nice),
            SchedPolicy::Idle => 0,
        }
    }

    /// Whether this is a real-time policy.
    pub fn is_realtime(&self) -> bool {
        matches!(self.policy, SchedPolicy::Fifo | SchedPolicy::RoundRobin)
    }
}

/// Per-node flags, set by the owner when it first sends its binder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFlags {
    /// The node accepts file descriptors in transactions (binder's
    /// `FLAT_BINDER_FLAG_ACCEPTS_FDS`).
    pub accepts_fds: bool,
    /// The server thread never runs a call on this node below this.
    pub min_priority: Option<Priority>,
    /// A real-time caller's priority migrates to the server thread
    /// (binder's `FLAT_BINDER_FLAG_INHERIT_RT`); without it such a call
    /// runs at normal priority, nice 0 (then raised to `min_priority`), so
    /// that no client can make a service's threads real-time unasked.
    pub inherit_rt: bool,
}

/// An object in a transaction's side table. The payload refers to objects
/// by their index in this table, never by raw handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Object {
    /// A local object of the process it appears in: `ptr` names it there
    /// and `cookie` is opaque to everyone else.
    Binder {
        /// The owner's name for the object.
        ptr: u64,
        /// Opaque to the mediator, returned to the owner.
        cookie: u64,
        /// A strong (true) or weak (false) reference travels.
        strong: bool,
        /// Node flags; used when the node is first created.
        flags: NodeFlags,
    },
    /// A reference to another process's object, as a handle in the table
    /// of the process it appears in.
    Handle {
        /// The handle in the table of the process that reads this object.
        handle: Handle,
        /// Whether a strong (true) or weak reference travels.
        strong: bool,
        /// Rights the receiver gets: the sender's rights narrowed to these.
        rights: Rights,
    },
    /// A file descriptor: `index` into the fds attached to the message.
    Fd {
        /// Position in the message's SCM_RIGHTS array.
        index: u32,
    },
    /// A sealed, read-only memfd blob (large payloads; zero copies).
    Blob {
        /// Position in the message's SCM_RIGHTS array.
        index: u32,
        /// Length in bytes.
        len: u64,
    },
    /// Mutable shared memory the receiver must treat as hostile.
    SharedMem {
        /// Position in the message's SCM_RIGHTS array.
        index: u32,
        /// Length in bytes.
        len: u64,
    },
}

impl Object {
    /// The fd index this object consumes, if it carries an fd.
    pub fn fd_index(&self) -> Option<u32> {
        match *self {
            Object::Fd { index } | Object::Blob { index, .. } | Object::SharedMem { index, .. } => {
                Some(index)
            }
            Object::Binder { .. } | Object::Handle { .. } => None,
        }
    }
}

/// Transaction flags (binder's `TF_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnFlags(pub u32);

impl TxnFlags {
    /// Asynchronous: no reply, delivered in order per node.
    pub const ONEWAY: u32 = 0x01;
    /// The caller accepts file descriptors in the reply.
    pub const ACCEPT_FDS: u32 = 0x10;
    /// The payload is sensitive: the mediator zeroes its range of the
    /// receive buffer when the range is freed (binder's `TF_CLEAR_BUF`,
    /// libbinder's `Parcel::markSensitive`).
    pub const CLEAR_BUF: u32 = 0x20;
    /// The payload travels in the last object, a `Blob`, instead of the
    /// send area (set by the runtime for large payloads; the mediator
    /// passes it through).
    pub const DATA_IN_BLOB: u32 = 0x100;
    /// Set by the mediator alone, on the call it delivers for an
    /// `AdoptDirect`: the server thread's direct call, now on the stacks.
    /// Empty; the server answers it with the direct call's reply.
    pub const ADOPTED: u32 = 0x200;

    /// Whether this is a oneway transaction.
    pub fn oneway(self) -> bool {
        self.0 & Self::ONEWAY != 0
    }

    /// Whether the caller accepts fds in the reply.
    pub fn accept_fds(self) -> bool {
        self.0 & Self::ACCEPT_FDS != 0
    }

    /// Whether the payload is to be zeroed when its range is freed.
    pub fn clear_buf(self) -> bool {
        self.0 & Self::CLEAR_BUF != 0
    }

    /// Whether this is a direct call adopted onto the stacks.
    pub fn adopted(self) -> bool {
        self.0 & Self::ADOPTED != 0
    }
}

/// Where a command's payload lies in the sending thread's send area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRange {
    /// Offset in the send area.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Payload bytes that come from a range delivered to the sender earlier,
/// still in its receive buffer, instead of from its send area: a process
/// that passes on bytes it received (an echo, a proxy, a pipeline stage)
/// sends them with one copy in all, the mediator's, receive buffer to
/// receive buffer. The send area's bytes under a splice are not read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splice {
    /// Where the bytes go, as an offset in the payload.
    pub at: u64,
    /// The delivered range they come from: the offset it was delivered at
    /// (`TxnIn::buffer.offset`), not yet freed.
    pub buffer: u64,
    /// Where they start within that range.
    pub offset: u64,
    /// How many.
    pub len: u64,
}

/// At most this many splices in one transaction.
pub const MAX_SPLICES: usize = 16;

/// A transaction or reply as a process writes it. Serialized by hand, in
/// a fixed layout (`packed`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnOut {
    /// Method code (ignored for replies).
    pub code: u32,
    /// Flags.
    pub flags: TxnFlags,
    /// The payload in the send area.
    pub data: DataRange,
    /// The side table of objects.
    pub objects: Vec<Object>,
    /// Parts of the payload copied from the sender's receive buffer instead
    /// (in payload order, not overlapping); usually none.
    pub splices: Vec<Splice>,
    /// The uid the work is done for, when the caller propagates one
    /// (libbinder's work source, `IPCThreadState::setCallingWorkSourceUid`).
    /// The sender's claim, passed on unchecked, as binder passes it in the
    /// parcel: it attributes cost (battery, CPU), it grants nothing.
    /// Ignored in replies.
    pub work_source: Option<u32>,
}

/// Everything a process can write (binder's `BC_*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Call the node behind `handle`.
    Transaction {
        /// Target, in the sender's table.
        handle: Handle,
        /// The call.
        txn: TxnOut,
    },
    /// Answer the transaction on top of this thread's stack.
    Reply(TxnOut),
    /// Free a receive-buffer range delivered earlier.
    FreeBuffer {
        /// Offset the range was delivered at.
        offset: u64,
    },
    /// Take a weak reference on a handle.
    IncRefs(Handle),
    /// Take a strong reference on a handle.
    Acquire(Handle),
    /// Drop a strong reference.
    Release(Handle),
    /// Drop a weak reference.
    DecRefs(Handle),
    /// The owner has taken the weak reference it was told about.
    IncRefsDone {
        /// The node's `ptr`.
        ptr: u64,
        /// The node's `cookie`.
        cookie: u64,
    },
    /// The owner has taken the strong reference it was told about.
    AcquireDone {
        /// The node's `ptr`.
        ptr: u64,
        /// The node's `cookie`.
        cookie: u64,
    },
    /// Subscribe to the death of the node behind `handle`.
    RequestDeath {
        /// The node's handle.
        handle: Handle,
        /// Returned in `DeadBinder`.
        cookie: u64,
    },
    /// Cancel a death subscription.
    ClearDeath {
        /// The node's handle.
        handle: Handle,
        /// The subscription's cookie.
        cookie: u64,
    },
    /// A delivered death notice has been handled.
    DeadBinderDone {
        /// The subscription's cookie.
        cookie: u64,
    },
    /// Subscribe to the node behind `handle` being frozen and thawed
    /// (binder's `BC_REQUEST_FREEZE_NOTIFICATION`): a `FrozenBinder` with
    /// its state comes at once, then one each time the state changes.
    RequestFreezeNotice {
        /// The node's handle.
        handle: Handle,
        /// Returned in `FrozenBinder`.
        cookie: u64,
    },
    /// Cancel a freeze subscription (`BC_CLEAR_FREEZE_NOTIFICATION`);
    /// `ClearFreezeNoticeDone` confirms it, after the `FreezeNoticeDone`
    /// of a notice still unanswered.
    ClearFreezeNotice {
        /// The node's handle.
        handle: Handle,
        /// The subscription's cookie.
        cookie: u64,
    },
    /// A delivered `FrozenBinder` has been handled
    /// (`BC_FREEZE_NOTIFICATION_DONE`); a state change that came
    /// meanwhile is sent only after this.
    FreezeNoticeDone {
        /// The subscription's cookie.
        cookie: u64,
    },
    /// This thread was spawned on request and now serves the pool.
    RegisterLooper,
    /// This thread joins the pool by itself (the main thread).
    EnterLooper,
    /// This thread leaves the pool.
    ExitLooper,
    /// This pool thread is idle: hand it process work.
    WaitForWork,
    /// The process's pool may grow to this many threads.
    SetMaxThreads(u32),
    /// Claim handle 0 with the given local object (binder's
    /// `BINDER_SET_CONTEXT_MGR_EXT`: with its node flags).
    SetContextManager {
        /// The object's `ptr`.
        ptr: u64,
        /// The object's `cookie`.
        cookie: u64,
        /// Its node flags; it accepts fds whatever these say (dumps are
        /// written to one).
        flags: NodeFlags,
    },
    /// Freeze (or thaw) the process with this pid. Privileged.
    Freeze {
        /// Target pid.
        pid: i32,
        /// Freeze (true) or thaw (false).
        enable: bool,
        /// When a freeze is refused because calls to the process are
        /// unfinished: hold the process as being frozen, refusing new sync
        /// calls to it (as frozen) while those drain, until the freezer
        /// asks again (and the freeze is made), thaws it, or exits. Binder
        /// does this for the time a `BINDER_FREEZE` waits; here the
        /// freezer's retries are the wait, so the mediator keeps no timer.
        /// A process frozen already is not held. With `enable: false`,
        /// `hold` lets go of a held process and thaws nothing.
        hold: bool,
    },
    /// Ask for the mediator's state (own process only unless privileged).
    DumpState,
    /// Create a multicast topic; answered by `TopicCreated` with a handle
    /// holding publish and subscribe rights (narrow them when passing on).
    CreateTopic {
        /// Messages a subscriber may have waiting before it loses some.
        queue_limit: u32,
        /// A subscriber past its limit is dropped (true) or told how many
        /// messages it lost (false).
        drop_slow: bool,
    },
    /// Subscribe one of this process's objects to a topic; it receives
    /// every publish as an ordinary oneway call.
    Subscribe {
        /// The topic (needs the subscribe right).
        topic: Handle,
        /// The callback object's `ptr`.
        ptr: u64,
        /// The callback object's `cookie`.
        cookie: u64,
        /// Method codes wanted; empty means all.
        codes: Vec<u32>,
    },
    /// Remove a subscription.
    Unsubscribe {
        /// The topic.
        topic: Handle,
        /// The callback object's `ptr`.
        ptr: u64,
    },
    /// A `SpawnLooper` request could not be met (no thread could be
    /// created, or the new thread could not register): the pool may be
    /// asked again. Sent by any thread of the process. Without it the
    /// request stays outstanding and the pool never grows again.
    SpawnFailed,
    /// A pool thread that serves calls from its own event loop (it polls
    /// its channel: libbinder's `setupPolling`) takes process work: the
    /// next item comes back right after `WorkTaken`, or `NoWork`. Either
    /// way exactly one of the two answers each `TakeWork`, so the thread
    /// can tell its answers from what is sent to it directly (the
    /// notices its own writes cause, a wake-up, a spawn request), which
    /// may be of the same kinds as queued work. From its first `TakeWork` on,
    /// the thread is never handed work otherwise: while it waits
    /// (`NoWork`, or `WaitForWork`) it is only woken with `WorkAvailable`,
    /// as binder wakes a polling thread and lets it take work when it
    /// reads. So a call it makes from its loop is never written after
    /// work already handed to it.
    TakeWork,
    /// Ask for a direct channel to the node behind `handle`, for this
    /// thread's data-only sync calls (`core::direct`): answered with
    /// `DirectGranted` (the caller's end attached) or `DirectRefused`.
    RequestDirect {
        /// The node's handle, held strongly with `CALL`.
        handle: Handle,
    },
    /// The server thread `server_tid` asked (on the direct channel) that
    /// the call it is serving from this thread become an ordinary sync
    /// call, to make a nested call or send objects back: the mediator
    /// delivers it an empty call flagged `TxnFlags::ADOPTED`, and this
    /// thread then waits for the `Reply` (or a dead, frozen or failed
    /// reply) as for any call.
    AdoptDirect {
        /// The handle the channel was granted on.
        handle: Handle,
        /// The server thread, which must have sent `AwaitAdoption` for
        /// the channel.
        server_tid: i32,
    },
    /// This thread, of the process serving direct channel `grant` and in
    /// no call, serves a call from it and is about to ask the caller to
    /// adopt it: the one thread an `AdoptDirect` on the channel may name.
    /// An `Error` if not.
    AwaitAdoption {
        /// The grant (`DirectServe::grant`).
        grant: u64,
    },
    /// The server's end of direct channel `grant` is closed: the mediator
    /// forgets it (until then, revoked, it counts against the server's
    /// channels).
    DirectClosed {
        /// The grant.
        grant: u64,
    },
}

/// The mediator's transaction ID: unique, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TxnId(pub u64);

impl std::fmt::Display for TxnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "txn #{}", self.0)
    }
}

/// The sender as the receiver sees it (calling identity).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Sender's pid (also for oneway calls, unlike binder).
    pub pid: i32,
    /// Sender's thread id, for sync calls.
    pub tid: i32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Security label or app name.
    pub label: Option<String>,
    /// Caller's scheduling attributes, as read from the kernel.
    pub priority: Option<Priority>,
    /// The work source the caller propagated (`TxnOut::work_source`): its
    /// claim, unlike every other field here.
    pub work_source: Option<u32>,
}

/// A transaction or reply as a process reads it. Serialized by hand, in
/// a fixed layout (`packed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnIn {
    /// The transaction ID (for a reply, the call's ID).
    pub id: TxnId,
    /// The target object, as the owner named it (`ptr`, `cookie`); `None`
    /// for a reply.
    pub target: Option<(u64, u64)>,
    /// Method code.
    pub code: u32,
    /// Flags as the sender set them.
    pub flags: TxnFlags,
    /// Who sent it.
    pub sender: Sender,
    /// The payload's range in the receive buffer; free it with
    /// `FreeBuffer` when done.
    pub buffer: DataRange,
    /// The side table, translated for this receiver.
    pub objects: Vec<Object>,
    /// For a message from a multicast topic: its sequence number in the
    /// topic (every subscriber sees the same order).
    pub seq: Option<u64>,
    /// For a message from a multicast topic: how many messages this
    /// subscriber lost just before it (it fell behind). Carried by the
    /// message itself, so a gap is seen in order with the messages, on the
    /// thread that runs the message, never after it.
    pub lost: u64,
}

/// Everything a process can read (binder's `BR_*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Return {
    /// The last command was accepted (a sync call now waits for its reply).
    TransactionComplete,
    /// An incoming call. Boxed, as is `Reply`'s: a `TxnIn` is 160 bytes,
    /// and a `Return` that held one inline was copied with a `memcpy` call
    /// at each of the layers it passes (some twenty per round trip at each
    /// end, callgrind); boxed, a `Return` moves in a few stores.
    Transaction(Box<TxnIn>),
    /// The reply to this thread's call.
    Reply(Box<TxnIn>),
    /// The call's target died (or the caller died, for a reply).
    DeadReply {
        /// The call this answers.
        id: TxnId,
    },
    /// The call failed; the failure says what and why.
    FailedReply {
        /// The call this answers.
        id: TxnId,
        /// What failed.
        error: Failure,
    },
    /// The target process is frozen.
    FrozenReply {
        /// The call this answers.
        id: TxnId,
    },
    /// A command other than a transaction was refused.
    Error(Failure),
    /// Take a weak reference on your object (answer `IncRefsDone`).
    IncRefs {
        /// The node's `ptr`.
        ptr: u64,
        /// The node's `cookie`.
        cookie: u64,
    },
    /// Take a strong reference on your object (answer `AcquireDone`).
    Acquire {
        /// The node's `ptr`.
        ptr: u64,
        /// The node's `cookie`.
        cookie: u64,
    },
    /// No remote strong reference is left.
    Release {
        /// The node's `ptr`.
        ptr: u64,
        /// The node's `cookie`.
        cookie: u64,
    },
    /// No remote reference at all is left.
    DecRefs {
        /// The node's `ptr`.
        ptr: u64,
        /// The node's `cookie`.
        cookie: u64,
    },
    /// An object you subscribed to died (answer `DeadBinderDone`).
    DeadBinder {
        /// The subscription's cookie.
        cookie: u64,
    },
    /// A `ClearDeath` took effect.
    ClearDeathDone {
        /// The subscription's cookie.
        cookie: u64,
    },
    /// The owner of an object you subscribed to with `RequestFreezeNotice`
    /// is frozen (or not): its state when you subscribed, then each
    /// change (binder's `BR_FROZEN_BINDER`; answer `FreezeNoticeDone`).
    /// Changes while this process is frozen itself, or before it answered
    /// the last notice, come as one notice of the latest state.
    FrozenBinder {
        /// The subscription's cookie.
        cookie: u64,
        /// Whether the object's owner is frozen.
        is_frozen: bool,
    },
    /// A `ClearFreezeNotice` took effect
    /// (`BR_CLEAR_FREEZE_NOTIFICATION_DONE`).
    ClearFreezeNoticeDone {
        /// The subscription's cookie.
        cookie: u64,
    },
    /// Start one more pool thread (it registers with `RegisterLooper`).
    SpawnLooper,
    /// This process's oneway calls fill most of a receiver's async space.
    OnewaySpamSuspect,
    /// The answer to `DumpState`.
    State(Box<StateDump>),
    /// The answer to `CreateTopic`.
    TopicCreated {
        /// The topic's handle (publish and subscribe rights).
        handle: Handle,
    },
    /// A slow subscriber was dropped (topics created with `drop_slow`).
    TopicDropped {
        /// The callback's `ptr`.
        ptr: u64,
        /// The callback's `cookie`.
        cookie: u64,
    },
    /// No handle with the publish right is left: nothing more will come.
    TopicPublishersGone {
        /// The callback's `ptr`.
        ptr: u64,
        /// The callback's `cookie`.
        cookie: u64,
    },
    /// To a polling thread that waits: process work is queued; take it
    /// with `TakeWork`.
    WorkAvailable,
    /// The answer to `TakeWork` when no process work is queued (or the
    /// thread is in a call, and takes only that call's work): a thread
    /// with no call now waits, and is sent `WorkAvailable` when work comes.
    NoWork,
    /// The answer to `TakeWork` when there was process work: the item
    /// handed to the thread is the very next return.
    WorkTaken,
    /// `RequestDirect` granted: the caller's end of the channel is
    /// attached.
    DirectGranted {
        /// The handle asked about.
        handle: Handle,
    },
    /// `RequestDirect` refused: calls go through the mediator.
    DirectRefused {
        /// The handle asked about.
        handle: Handle,
        /// Why.
        error: Failure,
    },
    /// Process work: serve the direct channel attached, on which `sender`
    /// calls the node `target` (`ptr`, `cookie`). The node is held (the
    /// caller holds it strongly) for as long as the channel lasts.
    DirectServe {
        /// The grant's id (for logs and the state dump).
        grant: u64,
        /// The node, as its owner named it.
        target: (u64, u64),
        /// The calling thread, as the mediator knows it.
        sender: Sender,
        /// The ID of the channel's first call; the next `direct::ID_BLOCK`
        /// IDs are the channel's, in order.
        first_id: TxnId,
    },
}

/// The first message a process sends on its connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's protocol major.
    pub major: u16,
    /// The client's protocol minor.
    pub minor: u16,
    /// Feature bits the client understands.
    pub features: u64,
}

/// The mediator's answer to [`Hello`]: versions, features and limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The mediator's protocol major.
    pub major: u16,
    /// The mediator's protocol minor.
    pub minor: u16,
    /// Feature bits on in this mediator.
    pub features: u64,
    /// The limits in force.
    pub limits: crate::limits::Limits,
    /// The page size.
    pub page_size: u64,
}
