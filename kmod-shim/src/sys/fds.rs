//! The process's file descriptor table: `close_range` and `RLIMIT_NOFILE`.
//!
//! The mediator holds one channel per binder thread plus fds in flight, so it
//! raises its soft open-file limit to the hard one at start
//! ([`raise_nofile_limit`]). The sandbox launcher marks every inherited fd
//! close-on-exec before it executes an app ([`close_range_cloexec`]).

use std::io;
use std::ops::BitOr;

use rustix::process::{Resource, Rlimit};

/// Flags for [`close_range`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CloseRangeFlags(u32);

impl CloseRangeFlags {
    /// No flags: close the fds.
    pub const NONE: CloseRangeFlags = CloseRangeFlags(0);
    /// `CLOSE_RANGE_UNSHARE`: unshare the fd table first, so a table shared
    /// with a `CLONE_FILES` sibling is left alone.
    pub const UNSHARE: CloseRangeFlags = CloseRangeFlags(libc::CLOSE_RANGE_UNSHARE);
    /// `CLOSE_RANGE_CLOEXEC`: set `FD_CLOEXEC` instead of closing (Linux 5.11).
    pub const CLOEXEC: CloseRangeFlags = CloseRangeFlags(libc::CLOSE_RANGE_CLOEXEC);

    /// The raw flag bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag in `other` is set here.
    pub fn contains(self, other: CloseRangeFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for CloseRangeFlags {
    type Output = CloseRangeFlags;

    fn bitor(self, rhs: CloseRangeFlags) -> CloseRangeFlags {
        CloseRangeFlags(self.0 | rhs.0)
    }
}

/// `close_range(first, last, flags)`: closes (or, with
/// [`CloseRangeFlags::CLOEXEC`], marks close-on-exec) every open fd from
/// `first` to `last` inclusive. `last` may be `u32::MAX` for "all above".
///
/// # Safety
///
/// Unless `flags` contains [`CloseRangeFlags::CLOEXEC`], the caller must own
/// every fd in the range: no `OwnedFd`, `File`, socket or other object of the
/// process may still use one of them, or it would later operate on (and
/// close) whatever new file reuses the number. Use [`close_range_cloexec`]
/// where that cannot be promised.
pub unsafe fn close_range(first: u32, last: u32, flags: CloseRangeFlags) -> io::Result<()> {
    // SAFETY: close_range reads no memory of ours. That closing the range
    // breaks no fd owner is the caller's promise (see `# Safety`).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags.bits()) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `close_range(first, last, CLOSE_RANGE_CLOEXEC)`: marks every open fd from
/// `first` to `last` close-on-exec, closing nothing now.
///
/// Safe because no fd changes meaning until an `exec`, which replaces the
/// whole program and every owner in it.
pub fn close_range_cloexec(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC no fd is closed now, so no owner in this
    // process can be left holding a closed or reused number.
    unsafe { close_range(first, last, CloseRangeFlags::CLOEXEC) }
}

/// `getrlimit(RLIMIT_NOFILE)` then `setrlimit(RLIMIT_NOFILE, {hard, hard})`:
/// raises the soft open-file limit to the hard limit, and returns the new
/// soft limit (`u64::MAX` for unlimited).
///
/// Does nothing when the soft limit is already the hard one.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let lim = rustix::process::getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        rustix::process::setrlimit(
            Resource::Nofile,
            Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        )?;
    }
    Ok(lim.maximum.unwrap_or(u64::MAX))
}

/// Takes ownership of `fd`, inherited from the process that started this
/// one (the sandbox launcher puts the mediator connection on fd 3 and names
/// it in `CAPBINDER_FD`). Checks it is open and a socket, and marks it
/// close-on-exec so it goes no further.
pub fn take_inherited_socket(fd: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is not a file descriptor number"),
        ));
    }
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd is open (checked above) and, by the launcher's
    // contract, owned by nothing else in this process: this is the one
    // place that takes it, once.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let st = rustix::fs::fstat(&owned)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Socket {
        // Not ours to close: give it back.
        std::mem::forget(owned);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is not a socket"),
        ));
    }
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(owned)
}

/// The pid a pidfd names, from `/proc/self/fdinfo/<fd>` (its `Pid:`
/// line): `Ok(None)` once the process has exited and been reaped (`Pid:
/// -1`), an error when `fd` is not a pidfd at all.
///
/// The mediator uses it on a pidfd a launcher sent (`SCM_RIGHTS`): the fd
/// itself is the proof of which process is meant, the number only says
/// where to look in `/proc`, so check the pidfd still live after reading
/// there (`cred::pidfd_is_alive`).
pub fn pidfd_pid(fd: impl std::os::fd::AsFd) -> io::Result<Option<super::Pid>> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fdinfo/{}", fd.as_fd().as_raw_fd());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {path}: {e}")))?;
    let pid = text
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a pidfd"))?
        .trim()
        .parse::<i32>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: Pid: {e}")))?;
    Ok(super::Pid::from_raw(pid).filter(|_| pid > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::FdFlags;
    use std::os::fd::{AsRawFd, IntoRawFd};

    fn plain_fd() -> std::os::fd::OwnedFd {
        // memfd_create without MFD_CLOEXEC: a fresh fd with FD_CLOEXEC clear.
        rustix::fs::memfd_create("fds-test", rustix::fs::MemfdFlags::empty()).unwrap()
    }

    fn raw(fd: i32) -> u32 {
        u32::try_from(fd).unwrap()
    }

    #[test]
    fn cloexec_range_marks_without_closing() {
        let fd = plain_fd();
        assert!(!rustix::io::fcntl_getfd(&fd)
            .unwrap()
            .contains(FdFlags::CLOEXEC));
        let n = raw(fd.as_raw_fd());
        close_range_cloexec(n, n).unwrap();
        assert!(rustix::io::fcntl_getfd(&fd)
            .unwrap()
            .contains(FdFlags::CLOEXEC));
    }

    #[test]
    fn close_range_closes_what_we_own() {
        // Close the write end of a pipe; the read end then sees EOF. (Probing
        // the number instead would race with other tests opening fds.)
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let w = w.into_raw_fd();
        let n = raw(w);
        // SAFETY: `w` came from `into_raw_fd`, so nothing else owns it.
        unsafe { close_range(n, n, CloseRangeFlags::NONE) }.unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(rustix::io::read(&r, &mut buf), Ok(0));
    }

    #[test]
    fn a_pidfd_names_its_pid_and_other_fds_are_refused() {
        let me = rustix::process::getpid();
        let pidfd = crate::sys::cred::pidfd_open(me).unwrap();
        assert_eq!(pidfd_pid(&pidfd).unwrap(), Some(me));
        let e = pidfd_pid(plain_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    #[test]
    fn flags_combine() {
        let f = CloseRangeFlags::CLOEXEC | CloseRangeFlags::UNSHARE;
        assert!(f.contains(CloseRangeFlags::CLOEXEC) && f.contains(CloseRangeFlags::UNSHARE));
        assert!(!CloseRangeFlags::NONE.contains(CloseRangeFlags::CLOEXEC));
    }

    #[test]
    fn nofile_soft_limit_reaches_hard_limit() {
        let new_soft = raise_nofile_limit().unwrap();
        let lim = rustix::process::getrlimit(Resource::Nofile);
        assert_eq!(lim.current, lim.maximum);
        assert_eq!(lim.current.unwrap_or(u64::MAX), new_soft);
    }
}
