//! capbinder: the library services and clients link.
//!
//! The binder programming model, made idiomatic Rust: a [`ProcessState`]
//! per process (the connection to the mediator and the thread pool),
//! [`Parcel`]s of serde values with objects in a side table, local objects
//! implementing [`Binder`], references [`SpIBinder`] (strong) and
//! [`WeakBinder`], [`DeathRecipient`]s, and a [`Status`] with binder's codes.
//! The service manager's client lives in [`service_manager`]; the
//! `capbinder` command line is [`cli::run`]; the work source a call is
//! charged to, [`work_source`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod binder;
pub mod cli;
pub mod direct;
mod frozen;
mod holder;
mod identity;
pub mod interface;
pub mod oneway;
mod parcel;
pub mod parcelable;
mod pfd;
mod process;
pub mod proxy_count;
pub mod sandbox;
pub mod service_manager;
mod status;
mod thread;
pub mod topic;
pub mod work_source;

pub use binder::{
    new_binder, Binder, DeathRecipient, FrozenState, FrozenStateChangeCallback, SpIBinder,
    WeakBinder, DUMP_TRANSACTION, EXTENSION_TRANSACTION, FIRST_CALL_TRANSACTION,
    INTERFACE_TRANSACTION, LAST_CALL_TRANSACTION, PING_TRANSACTION,
};
pub use capbinder_core::{Priority, Rights, SchedPolicy};
pub use holder::{ParcelableHolder, ParcelableMetadata};
pub use identity::{calling_identity, clear_calling_identity, CallingIdentity, ClearedIdentity};
pub use interface::{interface_cast, Interface};
pub use parcel::{Parcel, SPLICE_MIN};
pub use parcelable::Parcelable;
pub use pfd::ParcelFileDescriptor;
pub use process::{FreezeInfo, ProcessState};
pub use status::{ExceptionCode, Result, Status, StatusCode};
pub use thread::flush_commands;
pub use topic::{Subscription, Topic, TopicListener};

pub use capbinder_core as core;
