//! The syscall layer: the only `unsafe` code in capbinder.
//!
//! Every other crate in the workspace has `#![forbid(unsafe_code)]`, and the
//! rest of `kmod-shim` calls into this module instead of writing `unsafe`
//! itself. Each `unsafe` block here carries a `// SAFETY:` comment saying why
//! its invariants hold, and each wrapper is named after the syscall (or socket
//! option) it makes, with a doc comment that opens with the C form, the way
//! rustix does. Where rustix 1.x has the call we use it; `libc` fills only
//! what rustix lacks (`sched_getattr`/`sched_setattr`, `SO_PEERPIDFD`,
//! `SO_PEERSEC`, `close_range`) or what it gets wrong for us (its `UCred`
//! holds the pid as a non-zero integer, but the kernel reports pid 0 for a
//! peer outside our pid namespace, so credentials are read with `libc`).
//!
//! Modules, one per concern:
//!
//! - [`memfd`]: memfds (create, size, seal, verify seals) and [`memfd::Mapping`],
//!   an owned `mmap` region (`MADV_DONTFORK`, unmapped on drop) with bounds-checked
//!   copies: the receive buffer, the send area and blobs.
//! - [`sched`]: `sched_getattr`/`sched_setattr` and a plain view of a thread's
//!   policy, nice value, real-time priority and reset-on-fork flag, for priority
//!   migration.
//! - [`cred`]: who is on the other end of a Unix socket (`SO_PEERCRED`,
//!   `SO_PEERPIDFD`, `SO_PEERSEC`, `SO_PASSCRED`) and pidfds for processes and
//!   threads (`pidfd_open`, `PIDFD_THREAD`, liveness).
//! - [`fds`]: `close_range` and raising `RLIMIT_NOFILE` to its hard limit.
//! - [`signal`]: SIGTERM/SIGINT as a `signalfd` for the mediator's loop (added
//!   with the mediator, issue 4).
//! - [`protect`]: a probe that a memfd cannot be mapped writable (`mprotect`).
//! - [`channel`]: [`channel::Channel`], a `SOCK_SEQPACKET` socket that carries
//!   bytes, up to 253 fds (`SCM_MAX_FD`) and the sender's credentials, and
//!   [`channel::Listener`], the mediator's listening socket.
//! - [`uring`]: [`uring::Ring`], the mediator's io_uring: `recvmsg` into a
//!   pool of provided buffers, linked `sendmsg` chains, `accept`, `poll`,
//!   cancellation; it owns everything a request points at until the
//!   request completes.
//! - [`kbinder`]: the Linux binder driver's user API (open, `mmap`,
//!   `BINDER_WRITE_READ`), which the benchmarks measure capbinder beside
//!   where the kernel has it.
//! - [`fork`]: `fork` for a single-threaded process (tests of a forked
//!   child's use of its parent's device).
//! - [`uring_relay`]: a plain io_uring message relay, the batching floor
//!   `capbinder-rawbench` measures (not the mediator's loop).
//!
//! Errors are `std::io::Result` for the thin wrappers and small `thiserror`
//! enums where a caller must tell failures apart (a missing seal, a mapping
//! out of bounds).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

pub mod cgroup;
pub mod channel;
pub mod cred;
pub mod fds;
pub mod fork;
pub mod kbinder;
pub mod landlock;
pub mod memfd;
pub mod protect;
pub mod sandbox;
pub mod sched;
pub mod seccomp;
pub mod signal;
pub mod uring;
pub mod uring_relay;

/// A process or thread id as the kernel hands it out (never 0), re-exported
/// from rustix so callers need not depend on it for this one type.
pub use rustix::process::Pid;
