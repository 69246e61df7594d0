//! The epoll loop: one epoll instance per mediator, level-triggered. Each
//! registered fd carries a token (a `u64` never reused) that the shim maps
//! to what the fd is; a token whose source is gone is ignored, so an event
//! that arrives after its source was removed in the same pass is harmless.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::event::epoll;

/// Readiness the loop cares about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ready {
    /// Readable (or a message waiting).
    pub read: bool,
    /// Writable again after a full socket.
    pub write: bool,
    /// Hang-up or error: the peer is gone (read what is left first).
    pub hangup: bool,
}

/// An epoll instance.
pub struct Poller {
    ep: OwnedFd,
}

fn flags(write: bool) -> epoll::EventFlags {
    let mut f = epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
    if write {
        f |= epoll::EventFlags::OUT;
    }
    f
}

impl Poller {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            ep: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Watches `fd` for reading under `token`.
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(epoll::add(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            flags(false),
        )?)
    }

    /// Also (or no longer) watches `fd` for room to write.
    pub fn set_write_interest(&self, fd: impl AsFd, token: u64, write: bool) -> io::Result<()> {
        Ok(epoll::modify(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            flags(write),
        )?)
    }

    /// Stops watching `fd` (closing it would too; this makes it explicit).
    pub fn delete(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.ep, fd);
    }

    /// `epoll_wait`: blocks until at least one event, then returns them.
    pub fn wait(&self) -> io::Result<Vec<(u64, Ready)>> {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
        loop {
            match epoll::wait(&self.ep, rustix::buffer::spare_capacity(&mut events), None) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Converted to plain data: rustix's `Event` holds a pointer union
        // and is not `Send`, and the mediator may run on any thread.
        Ok(events
            .iter()
            .map(|ev| {
                let f = ev.flags;
                (
                    ev.data.u64(),
                    Ready {
                        read: f.contains(epoll::EventFlags::IN),
                        write: f.contains(epoll::EventFlags::OUT),
                        hangup: f.intersects(
                            epoll::EventFlags::HUP
                                | epoll::EventFlags::ERR
                                | epoll::EventFlags::RDHUP,
                        ),
                    },
                )
            })
            .collect())
    }
}
