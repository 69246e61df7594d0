//! capbinder-kmod-shim: what a binder kernel module would be, in user space.
//!
//! - [`mediator`]: the mediator daemon's engine (`capbinderd`), which drives
//!   `capbinder-core` with real sockets, memfds and pidfds;
//! - [`device`]: the client side the runtime opens instead of `/dev/binder`;
//! - [`wire`]: the transport's framing (postcard over `SOCK_SEQPACKET`);
//! - [`sys`]: the syscall layer, the only `unsafe` code;
//! - [`bench`](mod@bench): benchmark support for `capbinder-rawbench` (raw round trips
//!   through a real mediator beside socket and relay floors); nothing else
//!   uses it.
//!
//! `docs/transport.md` describes the wire and the mediator's rules.

pub mod bench;
pub mod device;
pub mod mediator;
pub mod sys;
pub mod wire;
