//! Event loops that drive the [`Shim`](super::shim::Shim). One exists now:
//! [`epoll`] (rustix), level-triggered, one `epoll_wait` per pass. The
//! io_uring loop DESIGN.md asks for is not written yet; `--epoll` is
//! accepted and is what runs.

pub mod epoll;
