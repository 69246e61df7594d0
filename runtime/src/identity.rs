//! Calling identity: who made the call this thread is serving. Set by the
//! runtime around each incoming call; nested calls stack.
//!
//! A service can clear it ([`clear_calling_identity`], libbinder's
//! `IPCThreadState::clearCallingIdentity`) to act on its own behalf: until
//! the returned guard is dropped, [`calling_identity`] on this thread
//! reports this process itself. That changes only what this thread
//! reports; the mediator stamps every call this process makes with the
//! identity the kernel gave it, cleared or not.

use std::cell::RefCell;
use std::marker::PhantomData;

use capbinder_core::{Priority, TxnId, TxnIn};

/// The caller of the call being served, as the kernel told the mediator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallingIdentity {
    /// Caller's pid (also for oneway calls).
    pub pid: i32,
    /// Caller's tid (sync calls).
    pub tid: i32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Security label or sandboxed app name.
    pub label: Option<String>,
    /// The transaction ID.
    pub txn: TxnId,
    /// The caller's scheduling attributes.
    pub priority: Option<Priority>,
    /// For a message from a multicast topic: its sequence number there.
    pub topic_seq: Option<u64>,
}

impl CallingIdentity {
    /// Takes the label out of `tx` (it is not needed there after this)
    /// rather than copying it for every call served.
    pub(crate) fn from_txn(tx: &mut TxnIn) -> CallingIdentity {
        CallingIdentity {
            pid: tx.sender.pid,
            tid: tx.sender.tid,
            uid: tx.sender.uid,
            euid: tx.sender.euid,
            label: tx.sender.label.take(),
            txn: tx.id,
            priority: tx.sender.priority,
            topic_seq: tx.seq,
        }
    }

    /// A direct call's caller, as the mediator named it with the channel.
    pub(crate) fn from_sender(s: &capbinder_core::Sender, txn: TxnId) -> CallingIdentity {
        CallingIdentity {
            pid: s.pid,
            tid: s.tid,
            uid: s.uid,
            euid: s.euid,
            label: s.label.clone(),
            txn,
            priority: s.priority,
            topic_seq: None,
        }
    }

    /// This process and thread, as a cleared identity reports it. The
    /// label is unknown here (the mediator knows it, and says it only to
    /// the callee), and the transaction is the one being served, if any:
    /// clearing changes who the caller is, not which call this is.
    fn this_thread(txn: TxnId) -> CallingIdentity {
        use rustix::process::{geteuid, getpid, getuid};
        CallingIdentity {
            pid: getpid().as_raw_nonzero().get(),
            tid: rustix::thread::gettid().as_raw_nonzero().get(),
            uid: getuid().as_raw(),
            euid: geteuid().as_raw(),
            label: None,
            txn,
            priority: None,
            topic_seq: None,
        }
    }
}

/// One entry of the thread's identity stack: a call being served, or a
/// cleared identity (tagged, so that its guard restores only its own).
struct Frame {
    id: CallingIdentity,
    cleared: Option<u64>,
}

thread_local! {
    static STACK: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
    /// Tags for cleared frames, so a guard never restores another's.
    static NEXT_CLEAR: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Pops the identity when the call ends, with any cleared frame left
/// above it (a guard leaked inside the call ends with the call).
pub(crate) struct Entered {
    depth: usize,
}

impl Drop for Entered {
    fn drop(&mut self) {
        STACK.with(|s| s.borrow_mut().truncate(self.depth));
    }
}

/// Whether this thread is serving a call (a frame other than a cleared
/// identity's is on its stack).
pub(crate) fn serving() -> bool {
    STACK.with(|s| s.borrow().iter().any(|f| f.cleared.is_none()))
}

pub(crate) fn enter(id: CallingIdentity) -> Entered {
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len();
        s.push(Frame { id, cleared: None });
        Entered { depth }
    })
}

/// The caller of the call this thread is serving, if it is serving one.
///
/// While this thread's identity is cleared ([`clear_calling_identity`]),
/// it is this process itself (its pid, this thread's tid, its uid and
/// euid; no label, no priority), also outside any call, until the guard
/// is dropped. A nested call this thread serves meanwhile reports its own
/// caller, as always.
pub fn calling_identity() -> Option<CallingIdentity> {
    STACK.with(|s| s.borrow().last().map(|f| f.id.clone()))
}

/// Makes this thread report its own process as the caller (libbinder's
/// `IPCThreadState::clearCallingIdentity`), until the returned guard is
/// dropped or [`restore`](ClearedIdentity::restore)d, which brings back
/// what was reported before (`restoreCallingIdentity`).
///
/// Use it before work done on this service's own behalf that looks at the
/// calling identity in-process (a permission check, the service manager
/// served locally). It changes nothing the mediator does: every call this
/// process makes, cleared or not, reaches its callee with the identity
/// the kernel gave this process, so clearing never lets a caller's
/// identity leak into a call, nor lets a process pass as another.
///
/// The guard is `!Send`: the identity belongs to this thread. Guards nest;
/// dropping one also drops any cleared since, as restoring libbinder's
/// older token does.
pub fn clear_calling_identity() -> ClearedIdentity {
    let tag = NEXT_CLEAR.with(|n| {
        let t = n.get();
        n.set(t.wrapping_add(1));
        t
    });
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len();
        let txn = s.last().map_or(TxnId(0), |f| f.id.txn);
        s.push(Frame {
            id: CallingIdentity::this_thread(txn),
            cleared: Some(tag),
        });
        ClearedIdentity {
            depth,
            tag,
            _not_send: PhantomData,
        }
    })
}

/// This thread's calling identity, cleared until this is dropped (see
/// [`clear_calling_identity`]).
#[must_use = "the identity is restored as soon as this guard is dropped"]
#[derive(Debug)]
pub struct ClearedIdentity {
    depth: usize,
    tag: u64,
    /// The identity is the thread's: the guard stays on it.
    _not_send: PhantomData<*const ()>,
}

impl ClearedIdentity {
    /// Restores the identity reported before the clear (the same as
    /// dropping the guard; libbinder's `restoreCallingIdentity`).
    pub fn restore(self) {}
}

impl Drop for ClearedIdentity {
    fn drop(&mut self) {
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            // Gone already when the call it was made in has ended (the
            // guard outlived it) or an older guard restored first.
            if s.get(self.depth)
                .is_some_and(|f| f.cleared == Some(self.tag))
            {
                s.truncate(self.depth);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(pid: i32, txn: u64) -> CallingIdentity {
        CallingIdentity {
            pid,
            tid: pid,
            uid: 1000,
            euid: 1000,
            label: Some("app".into()),
            txn: TxnId(txn),
            priority: None,
            topic_seq: None,
        }
    }

    fn me() -> i32 {
        std::process::id() as i32
    }

    #[test]
    fn a_cleared_identity_is_this_process_until_the_guard_drops() {
        let _call = enter(caller(4242, 7));
        assert_eq!(calling_identity().unwrap().pid, 4242);
        let guard = clear_calling_identity();
        let id = calling_identity().unwrap();
        assert_eq!(id.pid, me());
        assert_eq!(id.uid, rustix::process::getuid().as_raw());
        assert_eq!(id.euid, rustix::process::geteuid().as_raw());
        assert_eq!(id.label, None);
        assert_eq!(id.txn, TxnId(7), "still the call being served");
        // A call served meanwhile (a nested call back) sees its own caller.
        {
            let _nested = enter(caller(99, 8));
            assert_eq!(calling_identity().unwrap().pid, 99);
        }
        assert_eq!(calling_identity().unwrap().pid, me());
        guard.restore();
        assert_eq!(calling_identity().unwrap(), caller(4242, 7));
    }

    #[test]
    fn clearing_outside_a_call_reports_this_process_then_nothing() {
        assert!(calling_identity().is_none());
        let guard = clear_calling_identity();
        assert_eq!(calling_identity().unwrap().pid, me());
        drop(guard);
        assert!(calling_identity().is_none());
    }

    #[test]
    fn guards_restore_their_own_state_in_any_order() {
        let _call = enter(caller(4242, 7));
        let outer = clear_calling_identity();
        let inner = clear_calling_identity();
        // The older guard first: back to the caller, and the newer
        // guard's drop then changes nothing.
        drop(outer);
        assert_eq!(calling_identity().unwrap().pid, 4242);
        drop(inner);
        assert_eq!(calling_identity().unwrap().pid, 4242);
    }

    #[test]
    fn a_guard_that_outlives_its_call_ends_with_it() {
        let call = enter(caller(4242, 7));
        let guard = clear_calling_identity();
        drop(call);
        assert!(calling_identity().is_none(), "the call ended");
        let _next = enter(caller(5, 9));
        drop(guard);
        assert_eq!(
            calling_identity().unwrap().pid,
            5,
            "a stale guard leaves the next call's identity alone"
        );
    }
}
