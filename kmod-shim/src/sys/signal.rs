//! Signals as file descriptors: `pthread_sigmask` + `signalfd`, so the
//! mediator's event loop sees SIGTERM/SIGINT as one more readable fd and
//! shuts down cleanly, without a signal handler.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr;

/// `pthread_sigmask(SIG_BLOCK, {signals})` then
/// `signalfd(-1, {signals}, SFD_CLOEXEC | SFD_NONBLOCK)`: blocks `signals`
/// in the calling thread (threads it spawns afterwards inherit the mask) and
/// returns an fd that turns readable when one is pending.
///
/// Call it before spawning threads, or a thread that does not block the
/// signal may take it with its default action.
pub fn block_and_signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole `sigset_t` it points at,
    // which is live and writable.
    if unsafe { libc::sigemptyset(set.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by sigemptyset just above.
    let mut set = unsafe { set.assume_init() };
    for &s in signals {
        // SAFETY: `set` is an initialised `sigset_t`; sigaddset only writes
        // inside it and fails with EINVAL for a bad signal number.
        if unsafe { libc::sigaddset(&mut set, s) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: `set` is initialised and outlives the call; the old mask is
    // not asked for (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: -1 asks for a new fd; `set` is initialised and is only read
    // during the call.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel has just installed `fd` for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `read(fd, &signalfd_siginfo, sizeof)`: the number of one pending signal
/// taken from a signalfd, or `None` when none is pending.
pub fn read_signalfd(fd: impl AsFd) -> io::Result<Option<u32>> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::zeroed();
    loop {
        // SAFETY: `info` is a live, writable buffer of exactly the size
        // passed; the kernel writes at most that many bytes.
        let n = unsafe {
            libc::read(
                fd.as_fd().as_raw_fd(),
                info.as_mut_ptr().cast(),
                size_of::<libc::signalfd_siginfo>(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(e),
            }
        }
        if usize::try_from(n).ok() != Some(size_of::<libc::signalfd_siginfo>()) {
            return Err(io::Error::other("short read from a signalfd"));
        }
        // SAFETY: zero-initialised, then fully written by the kernel; every
        // bit pattern is a valid `signalfd_siginfo` (plain integers).
        let info = unsafe { info.assume_init() };
        return Ok(Some(info.ssi_signo));
    }
}
