//! `Work`: what waits in a process's queue for any idle pool thread. One
//! queue, one delivery path (`Core::dispatch`); thread-targeted returns
//! (replies, nested calls) skip the queue and go straight to the thread.

use std::collections::VecDeque;

use crate::protocol::{Handle, Return};
use crate::txn_table::TxnKey;

/// One item of process work.
#[derive(Debug)]
pub(crate) enum Work {
    /// A call (sync, or oneway whose node was free) for any pool thread.
    Transaction(TxnKey),
    /// A notice: reference changes for the owner, deaths, clear-death done.
    Notice(Return),
    /// A `FrozenBinder` for the freeze subscription on this handle of the
    /// process, built when it goes out, so that it tells the latest state.
    Frozen(Handle),
    /// A direct channel's server end, for a pool thread to serve.
    DirectServe(u64),
}

/// A process's queue.
pub(crate) type WorkQueue = VecDeque<Work>;
