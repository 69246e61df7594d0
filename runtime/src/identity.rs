//! Calling identity: who made the call this thread is serving. Set by the
//! runtime around each incoming call; nested calls stack.

use std::cell::RefCell;

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
}

thread_local! {
    static STACK: RefCell<Vec<CallingIdentity>> = const { RefCell::new(Vec::new()) };
}

/// Pops the identity when the call ends.
pub(crate) struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        STACK.with(|s| s.borrow_mut().pop());
    }
}

pub(crate) fn enter(id: CallingIdentity) -> Entered {
    STACK.with(|s| s.borrow_mut().push(id));
    Entered(())
}

/// The caller of the call this thread is serving, if it is serving one.
pub fn calling_identity() -> Option<CallingIdentity> {
    STACK.with(|s| s.borrow().last().cloned())
}
