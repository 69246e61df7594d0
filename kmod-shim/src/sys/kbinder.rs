//! The Linux binder driver's user API (`/dev/binder`, or a binderfs
//! device): open, version check, read-only `mmap`, and `BINDER_WRITE_READ`.
//!
//! capbinder does not use the driver; `capbinder-rawbench` and
//! `capbinder-bench` do, to measure capbinder beside kernel binder in one
//! run on a kernel that has it (`CONFIG_ANDROID_BINDER_IPC`). The
//! command and return encoding is plain data and lives with the benchmark
//! (`bench::kbinder`); only the syscalls are here.
//!
//! Memory safety does not depend on the commands' contents: every pointer a
//! command carries (a transaction's data) is read by the kernel with
//! `copy_from_user`, which fails cleanly (`BR_FAILED_REPLY`) on a bad one.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::ptr::{self, NonNull};

use rustix::fs::{Mode, OFlags};
use rustix::ioctl::{opcode, Opcode, Setter, Updater};
use rustix::mm::{MapFlags, ProtFlags};

/// `struct binder_write_read` (64-bit): the one argument of
/// `BINDER_WRITE_READ`.
#[repr(C)]
#[derive(Debug, Default)]
struct BinderWriteRead {
    write_size: u64,
    write_consumed: u64,
    write_buffer: u64,
    read_size: u64,
    read_consumed: u64,
    read_buffer: u64,
}

/// `struct binder_version`.
#[repr(C)]
#[derive(Debug, Default)]
struct BinderVersion {
    protocol_version: i32,
}

/// `BINDER_WRITE_READ`: `_IOWR('b', 1, struct binder_write_read)`.
pub const BINDER_WRITE_READ: Opcode = opcode::read_write::<BinderWriteRead>(b'b', 1);
/// `BINDER_SET_MAX_THREADS`: `_IOW('b', 5, __u32)`.
pub const BINDER_SET_MAX_THREADS: Opcode = opcode::write::<u32>(b'b', 5);
/// `BINDER_SET_CONTEXT_MGR`: `_IOW('b', 7, __s32)`.
pub const BINDER_SET_CONTEXT_MGR: Opcode = opcode::write::<i32>(b'b', 7);
/// `BINDER_VERSION`: `_IOWR('b', 9, struct binder_version)`.
pub const BINDER_VERSION: Opcode = opcode::read_write::<BinderVersion>(b'b', 9);

/// The protocol version of a 64-bit kernel (`BINDER_CURRENT_PROTOCOL_VERSION`
/// without `BINDER_IPC_32BIT`).
pub const PROTOCOL_VERSION: i32 = 8;

/// The most a binder mapping may be: the driver silently cuts a larger
/// `mmap` down to 4 MiB.
pub const MAX_MAP: usize = 4 << 20;

/// An open binder device and this process's read-only mapping of it, where
/// the driver places every transaction and reply addressed to us.
pub struct KernelBinder {
    // `Drop` unmaps; the fd closes after.
    map: NonNull<u8>,
    map_len: usize,
    fd: OwnedFd,
}

// SAFETY: `KernelBinder` owns its fd and its mapping outright; the mapping is
// only read, by copying (`read_at`), and `munmap`/`close` may run on any
// thread.
unsafe impl Send for KernelBinder {}

impl KernelBinder {
    /// `open(path, O_RDWR | O_CLOEXEC)`, `ioctl(BINDER_VERSION)` (must be
    /// [`PROTOCOL_VERSION`]), then `mmap(NULL, map_len, PROT_READ,
    /// MAP_PRIVATE | MAP_NORESERVE, fd, 0)`, which is what libbinder does.
    pub fn open(path: &Path, map_len: usize) -> io::Result<KernelBinder> {
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        let mut v = BinderVersion::default();
        // SAFETY: BINDER_VERSION's argument is a `struct binder_version`,
        // which `BinderVersion` lays out (`repr(C)`, one i32); the driver
        // writes only it.
        unsafe {
            rustix::ioctl::ioctl(
                &fd,
                Updater::<{ BINDER_VERSION }, BinderVersion>::new(&mut v),
            )?
        };
        if v.protocol_version != PROTOCOL_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: binder protocol version {}, expected {PROTOCOL_VERSION} (a 64-bit kernel's)",
                    path.display(),
                    v.protocol_version
                ),
            ));
        }
        let map_len = map_len.clamp(4096, MAX_MAP);
        // SAFETY: a null hint lets the kernel choose a fresh range, so the
        // mapping overlaps nothing Rust owns. The driver fills it only with
        // buffers it allocates for us; we never write it (PROT_READ).
        let raw = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                map_len,
                ProtFlags::READ,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
                &fd,
                0,
            )
        }?;
        let map = NonNull::new(raw.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap of the binder device returned NULL"))?;
        Ok(KernelBinder { map, map_len, fd })
    }

    /// `ioctl(BINDER_SET_CONTEXT_MGR, 0)`: this process owns handle 0 of the
    /// device. `EBUSY` if another process does (on Android, servicemanager).
    pub fn set_context_mgr(&self) -> io::Result<()> {
        // SAFETY: the argument type is the `__s32` the opcode names; the
        // driver reads nothing through it.
        unsafe {
            rustix::ioctl::ioctl(&self.fd, Setter::<{ BINDER_SET_CONTEXT_MGR }, i32>::new(0))?
        };
        Ok(())
    }

    /// `ioctl(BINDER_SET_MAX_THREADS, &n)`: how many extra looper threads the
    /// driver may ask this process to spawn (`BR_SPAWN_LOOPER`).
    pub fn set_max_threads(&self, n: u32) -> io::Result<()> {
        // SAFETY: the argument is the `__u32` the opcode names, read by the
        // driver with copy_from_user.
        unsafe {
            rustix::ioctl::ioctl(&self.fd, Setter::<{ BINDER_SET_MAX_THREADS }, u32>::new(n))?
        };
        Ok(())
    }

    /// `ioctl(BINDER_WRITE_READ)`: hands the driver the commands in `write`,
    /// then (if `read` is not empty) blocks until there is something to
    /// return and fills `read` with returns. Retried on `EINTR` from where
    /// the driver left off. Returns (command bytes consumed, bytes of
    /// `read` filled).
    ///
    /// The driver stops taking commands, without an error, after one fails
    /// (a `BC_REPLY` to a caller that died): it reports the failure among
    /// the returns, and the caller hands it the rest again, as libbinder
    /// does.
    pub fn write_read(&self, write: &[u8], read: &mut [u8]) -> io::Result<(usize, usize)> {
        let mut bwr = BinderWriteRead {
            write_size: write.len() as u64,
            write_consumed: 0,
            write_buffer: write.as_ptr() as u64,
            read_size: read.len() as u64,
            read_consumed: 0,
            read_buffer: read.as_mut_ptr() as u64,
        };
        loop {
            // SAFETY: the argument is the `struct binder_write_read` the
            // opcode names. The driver reads `write` and writes at most
            // `read.len()` bytes into `read`, both borrowed for the call.
            // Pointers inside the commands are read with copy_from_user.
            let r = unsafe {
                rustix::ioctl::ioctl(
                    &self.fd,
                    Updater::<{ BINDER_WRITE_READ }, BinderWriteRead>::new(&mut bwr),
                )
            };
            match r {
                // The consumed counts moved on; the same struct resumes.
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => break,
            }
        }
        let written = usize::try_from(bwr.write_consumed)
            .ok()
            .filter(|&n| n <= write.len());
        let filled = usize::try_from(bwr.read_consumed)
            .ok()
            .filter(|&n| n <= read.len());
        match (written, filled) {
            (Some(w), Some(r)) => Ok((w, r)),
            _ => Err(io::Error::other(
                "the binder driver reported more bytes than it was given",
            )),
        }
    }

    /// Whether `len` bytes at user address `addr` lie inside our mapping:
    /// true of every buffer the driver delivers to us.
    pub fn maps(&self, addr: u64, len: usize) -> bool {
        let start = self.map.as_ptr() as u64;
        addr >= start
            && addr
                .checked_add(len as u64)
                .is_some_and(|end| end <= start + self.map_len as u64)
    }

    /// Copies `dst.len()` bytes at user address `addr` out of our mapping.
    ///
    /// Only for a buffer the driver delivered (`BR_TRANSACTION`,
    /// `BR_REPLY`) and we have not freed: that holds still until our
    /// `BC_FREE_BUFFER`. Elsewhere in the mapping a page may be unbacked
    /// (the driver's fault handler answers SIGBUS) or reused.
    pub(crate) fn read_at(&self, addr: u64, dst: &mut [u8]) -> io::Result<()> {
        if !self.maps(addr, dst.len()) {
            return Err(io::Error::other(format!(
                "{} bytes at {addr:#x} are outside the binder mapping",
                dst.len()
            )));
        }
        let offset = (addr - self.map.as_ptr() as u64) as usize;
        // SAFETY: the source range was checked to lie inside our mapping,
        // which lives as long as `self`; `dst` is a distinct Rust buffer.
        // Raw-pointer copy: no reference to memory the driver writes.
        unsafe {
            ptr::copy_nonoverlapping(self.map.as_ptr().add(offset), dst.as_mut_ptr(), dst.len())
        };
        Ok(())
    }
}

impl Drop for KernelBinder {
    fn drop(&mut self) {
        // SAFETY: the region is exactly the one `mmap` returned in `open`,
        // owned by `self` and no longer borrowed (we are being dropped).
        let _ = unsafe { rustix::mm::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The opcodes as the kernel's uapi header computes them on x86-64.
    #[test]
    fn opcodes_match_the_uapi_header() {
        assert_eq!(BINDER_WRITE_READ, 0xc030_6201);
        assert_eq!(BINDER_SET_MAX_THREADS, 0x4004_6205);
        assert_eq!(BINDER_SET_CONTEXT_MGR, 0x4004_6207);
        assert_eq!(BINDER_VERSION, 0xc004_6209);
        assert_eq!(std::mem::size_of::<BinderWriteRead>(), 48);
    }

    #[test]
    fn a_missing_device_is_a_plain_error() {
        let e = KernelBinder::open(Path::new("/nonexistent/binder"), 1 << 20)
            .err()
            .expect("no such device");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
