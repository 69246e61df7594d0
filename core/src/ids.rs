//! Typed ids for the core's tables. Each is generation-checked (see
//! `arena`), so a stale id is an absent entry, never another object.

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u64);
    };
}

id!(
    /// A connected process (one connection to the mediator).
    ProcId
);
id!(
    /// A registered binder thread (one thread channel).
    ThreadId
);
id!(
    /// A node: one local object that some process has sent.
    NodeId
);
id!(
    /// A file descriptor held by the I/O layer while it is in flight; the
    /// core names fds only by slot, and every path that drops a transaction
    /// tells the I/O layer to close its slots.
    FdSlot
);
