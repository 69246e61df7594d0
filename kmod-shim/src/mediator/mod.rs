//! The mediator (`capbinderd`): one per context socket. It accepts
//! processes, makes their thread channels and buffers, feeds what they write
//! to [`capbinder_core::Core`] and carries out the effects.
//!
//! - [`config`]: the TOML configuration.
//! - `conn`: accepting, identity, the handshake, thread registration.
//! - `shim`: the tables of real resources and the effects.
//! - [`event_loop`]: the io_uring loop and the epoll loop, one chosen at
//!   start ([`config::Config::event_loop`]).
//!
//! Usable in-process (tests, or a launcher embedding it):
//!
//! ```no_run
//! # use capbinder_kmod_shim::mediator::{Mediator, config::Config};
//! let m = Mediator::bind(std::path::Path::new("/tmp/cb.sock"), Config::default()).unwrap();
//! let stop = m.shutdown_handle().unwrap();
//! let t = std::thread::spawn(move || m.run());
//! stop.trigger();
//! t.join().unwrap().unwrap();
//! ```
//!
//! The loop runs on one thread. A SCHED_FIFO caller therefore waits behind
//! whatever the mediator thread is doing (every other process's messages of
//! the same pass) and behind the mediator thread's own scheduling: run
//! `capbinderd` itself at a real-time priority at least as high as its
//! highest-priority client if inversion matters (see `docs/transport.md`).

pub mod config;
mod conn;
pub mod event_loop;
mod shim;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use capbinder_core::{features, Welcome, PROTOCOL_MAJOR, PROTOCOL_MINOR};
use rustix::event::EventfdFlags;
use tracing::{info, warn};

use crate::sys::channel::{Channel, Listener};
use config::{Config, Migrate};
use event_loop::{Io, LoopKind, Watched};
use shim::{kept, Shim, Source};

/// Starting or running the mediator failed.
#[derive(Debug, thiserror::Error)]
pub enum MediatorError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Another mediator answers on the socket path.
    #[error("{0}: another mediator is already listening there; stop it or choose another --socket/--context")]
    InUse(PathBuf),
    /// A syscall failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> MediatorError {
    let what = what.into();
    move |source| MediatorError::Io { what, source }
}

/// Stops a running [`Mediator`] from another thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    fd: Arc<OwnedFd>,
}

impl ShutdownHandle {
    /// Asks the loop to stop after the current pass.
    pub fn trigger(&self) {
        let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
    }
}

/// A bound mediator, ready to [`run`](Mediator::run).
pub struct Mediator {
    shim: Shim,
    io: Io,
    path: PathBuf,
    stop: Arc<OwnedFd>,
}

/// Whether this process holds `CAP_SYS_NICE` in its effective set.
fn has_sys_nice() -> bool {
    rustix::thread::capabilities(None)
        .map(|c| {
            c.effective
                .contains(rustix::thread::CapabilitySet::SYS_NICE)
        })
        .unwrap_or(false)
}

impl Mediator {
    /// Binds the context socket at `path` (creating its directory 0755 if
    /// missing, replacing a stale socket nobody answers on), raises the
    /// open-file limit, and prepares the loop.
    pub fn bind(path: &Path, config: Config) -> Result<Mediator, MediatorError> {
        config.validate("configuration")?;
        // First, so that a loop that cannot start leaves no socket behind.
        let mut io = Io::new(config.event_loop).map_err(io_err("starting the event loop"))?;
        let _ = crate::sys::fds::raise_nofile_limit();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir)
                    .map_err(io_err(format!("creating {}", dir.display())))?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            }
        }
        if path.exists() {
            match Channel::connect(path) {
                Ok(_) => return Err(MediatorError::InUse(path.to_path_buf())),
                Err(_) => {
                    std::fs::remove_file(path)
                        .map_err(io_err(format!("removing stale socket {}", path.display())))?;
                }
            }
        }
        let listener = Listener::bind(path).map_err(io_err("binding the context socket"))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("listener O_NONBLOCK"))?;
        let _ = crate::sys::cred::set_socket_passcred(&listener, true);
        let migrate = match config.migrate_priority {
            Migrate::Auto => has_sys_nice(),
            Migrate::On => true,
            Migrate::Off => false,
        };
        let mut feats = features::BLOBS | features::FREEZE | features::FREEZE_NOTIFICATIONS;
        if migrate {
            feats |= features::PRIORITY_MIGRATION;
        }
        let welcome = Welcome {
            major: PROTOCOL_MAJOR,
            minor: PROTOCOL_MINOR,
            features: feats,
            limits: config.limits.clone(),
            page_size: rustix::param::page_size() as u64,
        };
        let mut shim = Shim::new(config, migrate, welcome);
        let token = shim.token();
        shim.sources.insert(token, Source::Listener);
        io.watch(token, Watched::Listener(listener))
            .map_err(io_err("watching the listening socket"))?;
        let stop = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| MediatorError::Io {
                what: "eventfd".into(),
                source: e.into(),
            })?;
        let theirs = stop.try_clone().map_err(io_err("dup(eventfd)"))?;
        let token = shim.token();
        shim.sources.insert(token, Source::Shutdown);
        io.watch(token, Watched::Fd(theirs))
            .map_err(io_err("watching the shutdown eventfd"))?;
        info!(socket = %path.display(), migrate, event_loop = %io.kind(), "mediator bound");
        Ok(Mediator {
            shim,
            io,
            path: path.to_path_buf(),
            stop: Arc::new(stop),
        })
    }

    /// Which event loop runs (io_uring, or epoll where io_uring cannot start
    /// or was not chosen).
    pub fn event_loop(&self) -> LoopKind {
        self.io.kind()
    }

    /// The socket path clients connect to.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// A handle that stops [`run`](Mediator::run) from another thread.
    pub fn shutdown_handle(&self) -> io::Result<ShutdownHandle> {
        Ok(ShutdownHandle {
            fd: Arc::clone(&self.stop),
        })
    }

    /// Also stops when `fd` turns readable (a signalfd for SIGTERM/SIGINT).
    pub fn stop_on(&mut self, fd: OwnedFd) -> Result<(), MediatorError> {
        let token = self.shim.token();
        self.shim.sources.insert(token, Source::Shutdown);
        self.io
            .watch(token, Watched::Fd(fd))
            .map_err(io_err("watching a shutdown fd"))
    }

    /// Runs the loop until a shutdown fd turns readable; then every process
    /// is disconnected and the socket file removed.
    ///
    /// The thread that runs the loop first takes a longer slice under the
    /// fair scheduler (the configuration's `slice_us`; by default
    /// [`SLICE_FACTOR`](config::SLICE_FACTOR) times the kernel's). Each
    /// message the mediator forwards wakes a thread that then has work and
    /// the mediator none; each message that wakes the mediator comes from
    /// a thread about to block in its read. With the kernel's default the
    /// woken mediator often preempted such a writer one syscall before it
    /// would have slept (an extra pair of switches), and a thread woken by
    /// the mediator waited while the mediator looked for more. A longer
    /// slice is a later virtual deadline, which turns both around; the
    /// mediator's share of the CPU (its weight) is unchanged. On one CPU it
    /// cut a 32-byte round trip from 1.19x-1.21x to 1.09x-1.11x the
    /// blocking relay (capbinder-rawbench, five interleaved pairs).
    pub fn run(mut self) -> Result<(), MediatorError> {
        self.take_slice();
        let result = self.run_loop();
        let _ = std::fs::remove_file(&self.path);
        info!("mediator stopped");
        result
    }

    /// Sets the calling thread's slice as `run` describes; a failure is
    /// logged, not fatal (the loop works with any slice).
    fn take_slice(&self) {
        use crate::sys::sched;
        let slice_us = self.shim.config.slice_us;
        // From the kernel's default, not from whatever slice the thread
        // inherited from the one that made it.
        let took = sched::set_own_slice(None).and_then(|default| match (default, slice_us) {
            // A kernel before 6.12, or a real-time mediator: no slice.
            (None, _) => Ok(None),
            (Some(_), Some(0)) => Ok(default),
            (Some(ns), None) => sched::set_own_slice(Some(ns * config::SLICE_FACTOR)),
            (Some(_), Some(us)) => sched::set_own_slice(Some(us * 1000)),
        });
        match took {
            Ok(Some(ns)) => info!(slice_us = ns / 1000, "the loop thread's scheduler slice"),
            Ok(None) if matches!(slice_us, Some(us) if us != 0) => warn!(
                "slice_us is set but the loop thread has no scheduler slice (a kernel before 6.12, or a real-time policy): ignored"
            ),
            Ok(None) => {}
            Err(e) => warn!("setting the loop thread's scheduler slice failed: {e}"),
        }
    }

    fn run_loop(&mut self) -> Result<(), MediatorError> {
        let Mediator { shim, io, .. } = self;
        let mut batch = Vec::new();
        loop {
            // Carry out what the last pass asked for; what that causes (an
            // overflow, which dooms a process) may ask for more.
            loop {
                shim.reap();
                if shim.reqs.is_empty() {
                    break;
                }
                // Swapped, not taken: both Vecs keep their capacity, so a
                // pass allocates none.
                std::mem::swap(&mut batch, &mut shim.reqs);
                for req in batch.drain(..) {
                    io.apply(req, &mut |ev| shim.on_event(ev));
                }
                batch = kept(batch);
                if let Some(spent) = io.spent() {
                    shim.bufs.absorb(spent);
                }
            }
            shim.pass += 1;
            // The message is formatted only on failure: this runs every pass.
            if let Err(e) = io.wait(&mut |ev| shim.on_event(ev)) {
                return Err(io_err(format!("{} wait", io.kind()))(e));
            }
            if shim.stopping {
                return Ok(());
            }
        }
    }
}
