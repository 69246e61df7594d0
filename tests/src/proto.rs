//! The test interface, `capbinder.test.ITest`, written by hand the way the
//! AIDL compiler would generate it: method codes and the values that cross.

use serde::{Deserialize, Serialize};

/// The interface descriptor.
pub const DESCRIPTOR: &str = "capbinder.test.ITest";

/// Method codes.
pub mod codes {
    use capbinder::FIRST_CALL_TRANSACTION as F;

    /// `String echo(String s)`: the object's prefix, then `s`.
    pub const ECHO: u32 = F;
    /// `(String, int) callBack(ITest cb, String s)`: calls
    /// `cb.echo(upper(s))` (a nested call) and returns its answer and the
    /// tid of the thread that ran `cb.tid()` inside the same nested chain.
    pub const CALL_BACK: u32 = F + 1;
    /// `Level[] recurse(ITest peer, ITest back, int n)`: for `n > 0` calls
    /// `peer.recurse(back, peer, n - 1)`, then appends its own level.
    pub const RECURSE: u32 = F + 2;
    /// `int tid()`: the kernel tid of the thread serving the call.
    pub const TID: u32 = F + 3;
    /// `Who whoami()`: the calling identity as the callee sees it.
    pub const WHOAMI: u32 = F + 4;
    /// `String readFd(FileDescriptor fd)`: everything readable from `fd`.
    pub const READ_FD: u32 = F + 5;
    /// `FileDescriptor makeFd()`: the read end of a pipe holding a line.
    pub const MAKE_FD: u32 = F + 6;
    /// `byte[] echoBytes(byte[] b)`: `b`, back.
    pub const ECHO_BYTES: u32 = F + 7;
    /// `oneway void log(int seq)`: appends `seq` to the object's log.
    pub const ONEWAY_LOG: u32 = F + 8;
    /// `int[] getLog(int n)`: the log once it holds `n` entries (waits up
    /// to 30 s).
    pub const GET_LOG: u32 = F + 9;
    /// `ITest newSession()`: a fresh object of this process (prefix
    /// `"session:"`), which only the caller holds.
    pub const NEW_SESSION: u32 = F + 10;
    /// `Who block()`: prints `in-call txn=<id> from=<pid>` on the server's
    /// stdout, then waits until the server reads `release` on its stdin.
    pub const BLOCK: u32 = F + 11;
    /// `void failSpecific()`: always a service-specific error 42.
    pub const FAIL_SPECIFIC: u32 = F + 12;
    /// `int pid()`: the server's pid.
    pub const PID: u32 = F + 13;
    /// `byte[] forwardBytes(@nullable ITest next, byte[] b)`: `b` back,
    /// passed on with `Parcel::forward_bytes` (a splice, not a copy): to
    /// `next.forwardBytes(null, b)` first when `next` is given, whose reply
    /// is passed back the same way.
    pub const FORWARD_BYTES: u32 = F + 14;
    /// `int failWith(Status s)`: writes 7 to its reply, then returns `s`
    /// (binderLibTest's `SetError`).
    pub const FAIL_WITH: u32 = F + 15;
    /// `oneway keep(ITest b)`: the service keeps `b`.
    pub const KEEP: u32 = F + 16;
    /// `String callKept()`: calls the kept object.
    pub const CALL_KEPT: u32 = F + 17;
    /// `oneway relay(ITest cb, int seq)`: `cb.log(seq)`, oneway, through a
    /// window of 4.
    pub const RELAY: u32 = F + 18;
    /// `int keptTid()`: the tid the kept object's process serves `tid()`
    /// on, asked from inside this call (a nested call when the kept
    /// object is the caller's).
    pub const KEPT_TID: u32 = F + 19;
    /// `String blockCallKept()`: prints `in-call`, waits on the latch,
    /// then calls the kept object's `echo("k")` and prints `handler-done`.
    pub const BLOCK_CALL_KEPT: u32 = F + 20;
    /// As `BLOCK_CALL_KEPT`, with a oneway `log(1)` to the kept object
    /// through a window of 4 first (its answer pending on the thread).
    pub const WINDOW_BLOCK_CALL_KEPT: u32 = F + 21;
}

/// The calling identity a callee reports (`whoami`, `block`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    /// Caller's pid.
    pub pid: i32,
    /// Caller's tid.
    pub tid: i32,
    /// Caller's real uid.
    pub uid: u32,
    /// Caller's effective uid.
    pub euid: u32,
    /// The transaction ID.
    pub txn: u64,
}

/// One level of a `recurse` chain: who served it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Serving process.
    pub pid: i32,
    /// Serving thread.
    pub tid: i32,
    /// The `n` it was called with.
    pub n: u32,
}

/// The tid of the calling thread.
pub fn gettid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}
