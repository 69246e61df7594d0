//! Who is on the other end: peer credentials of a Unix socket, and pidfds.
//!
//! The mediator takes a process's identity from the kernel when it connects
//! ([`socket_peercred`], [`socket_peerpidfd`], [`socket_peersec`]), turns on
//! `SO_PASSCRED` on every channel ([`set_socket_passcred`]) so each message
//! carries the sender's pid, and holds one pidfd per process
//! ([`pidfd_open`]) and per named thread ([`open_thread_of`]) to learn of
//! exits ([`pidfd_is_alive`], [`pidfd_wait_exited`]).
//!
//! Beware, as DESIGN.md says: for a `socketpair` the peer credentials name
//! the process that created the pair, not the one holding the other end.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::time::Duration;

use rustix::event::{Nsecs, PollFd, PollFlags, Secs, Timespec};
use rustix::fs::{Access, AtFlags, Mode, OFlags};
use rustix::process::PidfdFlags;

use crate::sys::Pid;

/// This process's pid, cached: `getpid()` is a real syscall (glibc stopped
/// caching it), and the device checks it on every read and write to refuse
/// use from a forked child. A `pthread_atfork` child handler forgets the
/// cache, so a child that `fork`s through libc sees its own pid. A child made
/// by a raw `clone` without `exec` bypasses the handler; such a child must
/// not use a parent's device anyway, and nothing in capbinder makes one.
pub fn current_pid() -> i32 {
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Once;
    static PID: AtomicI32 = AtomicI32::new(0);
    static HOOK: Once = Once::new();
    extern "C" fn forget_pid() {
        PID.store(0, Ordering::Relaxed);
    }
    HOOK.call_once(|| {
        // SAFETY: the handler only stores to an atomic (async-signal-safe,
        // as a fork child handler must be); the others are absent.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    });
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = rustix::process::getpid().as_raw_nonzero().get();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Credentials the kernel vouches for: `struct ucred`.
///
/// `pid` is 0 when the process is not visible in our pid namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cred {
    /// Process id in the receiver's pid namespace, or 0 if it has none there.
    pub pid: i32,
    /// Effective user id (mapped into our user namespace).
    pub uid: u32,
    /// Effective group id (mapped into our user namespace).
    pub gid: u32,
}

impl Cred {
    /// The pid as a [`Pid`]; `None` when it is 0 (not in our pid namespace).
    pub fn pid(&self) -> Option<Pid> {
        Pid::from_raw(self.pid)
    }
}

impl From<libc::ucred> for Cred {
    fn from(c: libc::ucred) -> Cred {
        Cred {
            pid: c.pid,
            uid: c.uid,
            gid: c.gid,
        }
    }
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &ucred, &len)`: the pid, uid and
/// gid of the process that connected (or created the socket pair), as of
/// `connect`/`socketpair` time.
///
/// Read with libc rather than rustix, whose `UCred` cannot hold pid 0.
pub fn socket_peercred(fd: impl AsFd) -> io::Result<Cred> {
    let mut ucred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = socklen_of::<libc::ucred>();
    // SAFETY: `ucred` is a live, writable `struct ucred` and `len` holds its
    // exact size, so the kernel writes only inside it; neither pointer is kept.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            ptr::addr_of_mut!(ucred).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if len != socklen_of::<libc::ucred>() {
        return Err(io::Error::other(
            "SO_PEERCRED returned a short struct ucred",
        ));
    }
    Ok(ucred.into())
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len)` (Linux 6.5): a
/// pidfd (`O_CLOEXEC`) for the peer process as of connect time.
///
/// `Ok(None)` when the kernel does not know the option (`ENOPROTOOPT`).
pub fn socket_peerpidfd(fd: impl AsFd) -> io::Result<Option<OwnedFd>> {
    let mut pidfd: libc::c_int = -1;
    let mut len = socklen_of::<libc::c_int>();
    // SAFETY: `pidfd` is a live, writable `int` and `len` holds its exact size,
    // so the kernel writes only inside it; neither pointer is kept.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERPIDFD,
            ptr::addr_of_mut!(pidfd).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOPROTOOPT) => Ok(None),
            _ => Err(err),
        };
    }
    if pidfd < 0 || len != socklen_of::<libc::c_int>() {
        return Err(io::Error::other("SO_PEERPIDFD returned no fd"));
    }
    // SAFETY: the kernel has just installed `pidfd` in our table for this call
    // alone; nothing else knows the number, so we are its sole owner.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERSEC, buf, &len)`: the peer's security
/// label (SELinux context, AppArmor profile, Smack label), without the
/// trailing NUL.
///
/// `Ok(None)` when no LSM labels sockets (`ENOPROTOOPT`) or the label is
/// empty.
pub fn socket_peersec(fd: impl AsFd) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    // The label can only grow between two calls by being replaced; give up
    // after a few rounds rather than loop forever.
    for _ in 0..4 {
        let mut len = libc::socklen_t::try_from(buf.len()).map_err(io::Error::other)?;
        // SAFETY: `buf` is a live, writable buffer of `len` bytes, so the kernel
        // writes only inside it; neither pointer is kept.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERSEC,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let len = usize::try_from(len).map_err(io::Error::other)?;
        if rc < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOPROTOOPT) => return Ok(None),
                // The kernel put the size it needs in `len`.
                Some(libc::ERANGE) if len > buf.len() => {
                    buf.resize(len, 0);
                    continue;
                }
                _ => return Err(err),
            }
        }
        buf.truncate(len.min(buf.len()));
        while buf.last() == Some(&0) {
            buf.pop();
        }
        return Ok(if buf.is_empty() { None } else { Some(buf) });
    }
    Err(io::Error::other(
        "SO_PEERSEC kept asking for a larger buffer",
    ))
}

/// `setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(int))`: whether each
/// received message carries the sender's `SCM_CREDENTIALS`.
pub fn set_socket_passcred(fd: impl AsFd, on: bool) -> io::Result<()> {
    Ok(rustix::net::sockopt::set_socket_passcred(fd, on)?)
}

/// A process's user ids as `/proc/<pid>/status` lists them (`Uid:` real,
/// effective, saved, filesystem), mapped into our user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcUids {
    /// Real uid.
    pub real: u32,
    /// Effective uid.
    pub effective: u32,
}

/// Reads the `Uid:` line of `/proc/<pid>/status`.
///
/// The answer is about whatever process has `pid` at the moment of reading:
/// hold a pidfd for the process you mean and check it is still alive
/// afterwards ([`pidfd_is_alive`]), so that a reused pid cannot answer for it.
pub fn proc_status_uids(pid: Pid) -> io::Result<ProcUids> {
    proc_status_ids(pid, "Uid:")
}

/// Reads the `Gid:` line of `/proc/<pid>/status`: the real and effective
/// group ids (in a [`ProcUids`], whose fields mean the same).
pub fn proc_status_gids(pid: Pid) -> io::Result<ProcUids> {
    proc_status_ids(pid, "Gid:")
}

fn proc_status_ids(pid: Pid, key: &str) -> io::Result<ProcUids> {
    let path = format!("/proc/{}/status", pid.as_raw_nonzero());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {path}: {e}")))?;
    parse_status_ids(&text, key)
        .ok_or_else(|| io::Error::other(format!("{path} has no well-formed {key} line")))
}

fn parse_status_ids(text: &str, key: &str) -> Option<ProcUids> {
    let line = text.lines().find_map(|l| l.strip_prefix(key))?;
    let mut ids = line.split_whitespace().map(|f| f.parse::<u32>());
    let real = ids.next()?.ok()?;
    let effective = ids.next()?.ok()?;
    Some(ProcUids { real, effective })
}

/// `pidfd_open(pid, 0)`: a pidfd (`O_CLOEXEC`) for a process; it becomes
/// readable when the process exits.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// `PIDFD_THREAD` (`O_EXCL`): a pidfd for one thread, not its thread group.
pub const PIDFD_THREAD: u32 = libc::PIDFD_THREAD;

/// `pidfd_open(tid, PIDFD_THREAD)` (Linux 6.9): a pidfd for one thread; it
/// becomes readable when that thread exits.
///
/// Fails with `EINVAL` on a kernel without `PIDFD_THREAD`, `ESRCH` when the
/// thread does not exist.
pub fn pidfd_open_thread(tid: Pid) -> io::Result<OwnedFd> {
    let flags = PidfdFlags::from_bits_retain(PIDFD_THREAD);
    Ok(rustix::process::pidfd_open(tid, flags)?)
}

/// Whether `/proc/<pid>/task/<tid>` exists: the thread `tid` belongs to the
/// process `pid` (ids in our pid namespace), at the moment of the call.
///
/// Fails when `/proc` itself cannot be read; mount procfs.
pub fn tid_belongs_to(pid: Pid, tid: Pid) -> io::Result<bool> {
    let path = format!(
        "/proc/{}/task/{}",
        pid.as_raw_nonzero(),
        tid.as_raw_nonzero()
    );
    match rustix::fs::access(path.as_str(), rustix::fs::Access::EXISTS) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => {
            // Tell "no such thread" from "no procfs".
            rustix::fs::access("/proc/self/task", rustix::fs::Access::EXISTS).map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    "/proc is not mounted; capbinder checks thread ids there: mount procfs",
                )
            })?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// A thread id a client named could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    /// The thread is not (or no longer) in the process.
    #[error("thread {tid} is not a thread of process {pid}; name a live thread of your own")]
    NotInProcess {
        /// The process.
        pid: i32,
        /// The thread named.
        tid: i32,
    },
    /// A syscall failed.
    #[error("checking thread {tid} of process {pid} failed: {source}")]
    Io {
        /// The process.
        pid: i32,
        /// The thread named.
        tid: i32,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

/// What holds on to a thread a client named, so that a priority change
/// does not land on another thread that took over its tid.
///
/// Both kinds follow the thread itself, not its number. What neither can
/// close is the gap between a check and the `sched_setattr(tid)` after it
/// (the syscall takes a number): the thread would have to exit and its tid
/// be handed to a new thread, after the pid counter wraps, within that
/// gap of microseconds.
#[derive(Debug)]
pub enum ThreadPin {
    /// A thread pidfd (Linux 6.9, `PIDFD_THREAD`): readable once the thread
    /// exits.
    Thread(OwnedFd),
    /// Before Linux 6.9: an `O_PATH` fd of `/proc/<pid>/task/<tid>`. The
    /// procfs directory is bound to the task it was opened for, so lookups
    /// in it fail once that task is gone, whoever has the tid since.
    TaskDir(OwnedFd),
}

impl ThreadPin {
    /// `open("/proc/<pid>/task/<tid>", O_PATH | O_DIRECTORY | O_CLOEXEC)`:
    /// the pre-6.9 pin. `ENOENT` when `tid` is not a thread of `pid`.
    pub fn task_dir(pid: Pid, tid: Pid) -> io::Result<ThreadPin> {
        let path = format!(
            "/proc/{}/task/{}",
            pid.as_raw_nonzero(),
            tid.as_raw_nonzero()
        );
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path.as_str(), flags, Mode::empty())?;
        Ok(ThreadPin::TaskDir(fd))
    }

    /// Whether the pinned thread is alive.
    pub fn is_alive(&self) -> io::Result<bool> {
        match self {
            ThreadPin::Thread(fd) => pidfd_is_alive(fd),
            ThreadPin::TaskDir(dir) => {
                match rustix::fs::accessat(dir, "stat", Access::EXISTS, AtFlags::empty()) {
                    Ok(()) => Ok(true),
                    Err(rustix::io::Errno::NOENT | rustix::io::Errno::SRCH) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

/// Pins thread `tid` of process `pid`: opens a thread pidfd, checks
/// `/proc/<pid>/task/<tid>`, then checks the pidfd's thread is still alive.
///
/// In that order the answer cannot be fooled by tid reuse: a live thread
/// keeps its tid, so the tid listed under the process was the pidfd's thread.
/// On a kernel without `PIDFD_THREAD` (before 6.9) the pin is the thread's
/// `/proc` directory ([`ThreadPin::TaskDir`]), opened under the process.
pub fn open_thread_of(pid: Pid, tid: Pid) -> Result<ThreadPin, ThreadError> {
    let (p, t) = (pid.as_raw_nonzero().get(), tid.as_raw_nonzero().get());
    let io_err = |source| ThreadError::Io {
        pid: p,
        tid: t,
        source,
    };
    let not_in = ThreadError::NotInProcess { pid: p, tid: t };
    let pin = match pidfd_open_thread(tid) {
        Ok(fd) => ThreadPin::Thread(fd),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(not_in),
        // Unknown flag: a kernel before 6.9. (A 6.9 kernel also says
        // EINVAL for a thread that is exiting; the lookup below fails then.)
        // ENOSYS: something between us and the kernel does not know the
        // flag (valgrind; a seccomp filter written before 6.9).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
            match ThreadPin::task_dir(pid, tid) {
                Ok(pin) => pin,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_in),
                Err(e) => return Err(io_err(e)),
            }
        }
        Err(e) => return Err(io_err(e)),
    };
    if !tid_belongs_to(pid, tid).map_err(io_err)? {
        return Err(not_in);
    }
    if !pin.is_alive().map_err(io_err)? {
        return Err(not_in);
    }
    Ok(pin)
}

/// `poll({pidfd, POLLIN}, 1, 0)`: whether the process (or, for a thread
/// pidfd, the thread) has not exited yet. A pidfd turns readable at exit.
pub fn pidfd_is_alive(pidfd: impl AsFd) -> io::Result<bool> {
    Ok(!pidfd_wait_exited(pidfd, Some(Duration::ZERO))?)
}

/// `poll({pidfd, POLLIN}, 1, timeout)`: waits up to `timeout` (`None`:
/// forever) for the process or thread to exit; `true` if it has.
pub fn pidfd_wait_exited(pidfd: impl AsFd, timeout: Option<Duration>) -> io::Result<bool> {
    // `Secs`/`Nsecs` are `c_long`-sized on some targets, `i64` on others.
    #[allow(clippy::unnecessary_fallible_conversions)]
    let timeout = timeout
        .map(|d| {
            Ok::<_, io::Error>(Timespec {
                tv_sec: Secs::try_from(d.as_secs()).map_err(io::Error::other)?,
                tv_nsec: Nsecs::try_from(d.subsec_nanos()).map_err(io::Error::other)?,
            })
        })
        .transpose()?;
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(!fds[0].revents().is_empty()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn socklen_of<T>() -> libc::socklen_t {
    // Every type passed here is a few bytes; the cast cannot truncate.
    const { assert!(size_of::<T>() < 1 << 16) };
    size_of::<T>() as libc::socklen_t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    fn pid_in_fdinfo(fd: &OwnedFd) -> i32 {
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
        let line = info.lines().find(|l| l.starts_with("Pid:")).unwrap();
        line["Pid:".len()..].trim().parse().unwrap()
    }

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn cached_pid_is_the_kernels() {
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        assert_eq!(current_pid(), pid);
        assert_eq!(current_pid(), pid, "the cached value");
    }

    #[test]
    fn status_uids_are_parsed_and_match_ours() {
        let me = proc_status_uids(rustix::process::getpid()).unwrap();
        assert_eq!(me.real, rustix::process::getuid().as_raw());
        assert_eq!(me.effective, rustix::process::geteuid().as_raw());
        let t = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n";
        assert_eq!(
            parse_status_ids(t, "Uid:"),
            Some(ProcUids {
                real: 1000,
                effective: 0
            })
        );
        assert_eq!(parse_status_ids("Uid:\tx\n", "Uid:"), None);
        assert_eq!(parse_status_ids("", "Uid:"), None);
    }

    #[test]
    fn peercred_of_socketpair_is_its_creator() {
        let (a, _b) = pair();
        let cred = socket_peercred(&a).unwrap();
        assert_eq!(cred.pid, i32::try_from(std::process::id()).unwrap());
        assert_eq!(cred.uid, rustix::process::getuid().as_raw());
        assert_eq!(cred.gid, rustix::process::getgid().as_raw());
        assert_eq!(cred.pid(), Some(rustix::process::getpid()));
    }

    #[test]
    fn peerpidfd_names_the_peer_process() {
        let (a, _b) = pair();
        match socket_peerpidfd(&a).unwrap() {
            None => eprintln!("SO_PEERPIDFD not supported by this kernel (needs 6.5)"),
            Some(fd) => {
                assert_eq!(
                    pid_in_fdinfo(&fd),
                    i32::try_from(std::process::id()).unwrap()
                );
                let flags = rustix::io::fcntl_getfd(&fd).unwrap();
                assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
                assert!(pidfd_is_alive(&fd).unwrap());
            }
        }
    }

    #[test]
    fn peersec_is_a_label_or_none() {
        let (a, _b) = pair();
        match socket_peersec(&a).unwrap() {
            None => eprintln!("no LSM labels sockets here; SO_PEERSEC gave ENOPROTOOPT"),
            Some(label) => assert!(!label.contains(&0), "{label:?}"),
        }
    }

    #[test]
    fn passcred_can_be_set_and_cleared() {
        let (a, _b) = pair();
        set_socket_passcred(&a, true).unwrap();
        assert!(rustix::net::sockopt::socket_passcred(&a).unwrap());
        set_socket_passcred(&a, false).unwrap();
        assert!(!rustix::net::sockopt::socket_passcred(&a).unwrap());
    }

    #[test]
    fn process_pidfd_turns_readable_at_exit() {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn cat");
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        let pidfd = pidfd_open(pid).unwrap();
        assert!(pidfd_is_alive(&pidfd).unwrap());
        child.stdin.take().unwrap().write_all(b"bye").unwrap(); // then EOF: cat exits
        assert!(pidfd_wait_exited(&pidfd, None).unwrap());
        assert!(!pidfd_is_alive(&pidfd).unwrap());
        child.wait().unwrap();
    }

    #[test]
    fn thread_pidfd_pins_a_thread_of_this_process() {
        let (tid, worker) = Parked::spawn();
        let me = rustix::process::getpid();
        assert!(tid_belongs_to(me, tid).unwrap());

        let pin = open_thread_of(me, tid).unwrap();
        assert!(pin.is_alive().unwrap());
        let thread_pidfd = match &pin {
            ThreadPin::Thread(fd) => {
                assert_eq!(pid_in_fdinfo(fd), tid.as_raw_nonzero().get());
                Some(fd)
            }
            ThreadPin::TaskDir(_) => {
                eprintln!("PIDFD_THREAD not supported by this kernel (needs 6.9): pinned by /proc");
                None
            }
        };

        worker.finish();
        if let Some(fd) = thread_pidfd {
            assert!(pidfd_wait_exited(fd, None).unwrap());
        }
        wait_until_gone(&pin);
        assert!(matches!(
            open_thread_of(me, tid),
            Err(ThreadError::NotInProcess { .. })
        ));
    }

    /// A thread of this process that waits until told to finish.
    struct Parked {
        done: mpsc::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    }

    impl Parked {
        /// Starts it; returns its tid.
        fn spawn() -> (Pid, Parked) {
            let (tid_tx, tid_rx) = mpsc::channel();
            let (done, done_rx) = mpsc::channel::<()>();
            let thread = std::thread::spawn(move || {
                tid_tx.send(rustix::thread::gettid()).unwrap();
                let _ = done_rx.recv();
            });
            (tid_rx.recv().unwrap(), Parked { done, thread })
        }

        /// Lets it return, and joins it.
        fn finish(self) {
            self.done.send(()).unwrap();
            self.thread.join().unwrap();
        }
    }

    /// Waits for a joined thread's pin to report it gone. join() returns
    /// when the thread clears its tid (CLONE_CHILD_CLEARTID), a little
    /// before the kernel releases the task and its /proc entry; until then
    /// the tid cannot be reused either, so "alive" there is harmless.
    fn wait_until_gone(pin: &ThreadPin) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while pin.is_alive().unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "a joined thread still pinned after 30 s: {pin:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The pre-6.9 pin, made directly so that it is tested on every kernel.
    #[test]
    fn a_task_dir_pin_follows_the_thread() {
        let (tid, worker) = Parked::spawn();
        let me = rustix::process::getpid();
        let pin = ThreadPin::task_dir(me, tid).unwrap();
        assert!(pin.is_alive().unwrap());
        worker.finish();
        wait_until_gone(&pin);
        // A thread of another process is not found under ours.
        if me.as_raw_nonzero().get() != 1 {
            let e = ThreadPin::task_dir(me, Pid::from_raw(1).unwrap()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        }
    }

    #[test]
    fn thread_of_another_process_is_refused() {
        // pid 1's main thread is not one of ours.
        let me = rustix::process::getpid();
        let init = Pid::from_raw(1).unwrap();
        if me == init {
            eprintln!("skipped thread_of_another_process_is_refused: we are pid 1");
            return;
        }
        assert!(!tid_belongs_to(me, init).unwrap());
        assert!(matches!(
            open_thread_of(me, init),
            Err(ThreadError::NotInProcess { .. })
        ));
    }
}
