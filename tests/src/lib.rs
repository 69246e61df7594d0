//! Cross-process integration tests for capbinder, and what they share.
//!
//! The tests (in `tests/`) start a real mediator in the test process, one
//! per test on its own short socket path, and real processes: the helper
//! binary `capbinder-test-app` plays every role (service manager, test
//! service, a scriptable client, a state dumper, the `capbinder` command
//! line, a mediator that can be killed); `capbinder-conformance-app` plays
//! the roles of `tests/conformance.rs` (binder's conformance cases, from
//! AOSP's `binderLibTest`), with its own interface. The test process itself
//! is never a capbinder client: a process talks to one mediator, and every
//! test has its own.
//!
//! - [`proto`]: the test interface (`capbinder.test.ITest`): codes and the
//!   values that cross.
//! - [`service`]: the object that implements it (the helper serves it, and
//!   clients use it as their callback object).
//! - [`topics`]: the `topics` role (multicast topics).
//! - [`role`]: what the helper binaries' roles share (status lines,
//!   following stdin).
//! - [`harness`]: starting mediators and helper processes, waiting for
//!   their lines, and reading the mediator's state.
#![forbid(unsafe_code)]

pub mod harness;
pub mod proto;
pub mod role;
pub mod service;
pub mod topics;
