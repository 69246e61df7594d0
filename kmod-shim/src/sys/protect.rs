//! Checks that a memfd cannot be made writable: what a client that wants
//! to scribble over its receive buffer would try. Used by the transport's
//! tests and by `capbinderd --self-check`-style diagnostics; it maps and
//! unmaps its own scratch region and lends nothing out.

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr;

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)`, then
/// `mprotect(addr, len, PROT_READ | PROT_WRITE)`, then `munmap`: returns the
/// result of the `mprotect`. On a receive buffer (sealed
/// `F_SEAL_FUTURE_WRITE`) it must fail with `EACCES`.
///
/// `len` must not exceed the file's size, and the file must be sealed
/// against shrinking, or touching the region could fault; this function
/// never touches it.
pub fn mprotect_shared_writable(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    if len == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "zero length"));
    }
    // SAFETY: a null hint lets the kernel pick a fresh range, which cannot
    // overlap memory any Rust object owns; the region is never read or
    // written here, so its backing does not matter.
    let addr = unsafe {
        rustix::mm::mmap(
            ptr::null_mut(),
            len,
            ProtFlags::READ,
            MapFlags::SHARED,
            fd,
            0,
        )
    }?;
    // SAFETY: `addr`/`len` is exactly the region mapped above, owned here.
    let res =
        unsafe { rustix::mm::mprotect(addr, len, MprotectFlags::READ | MprotectFlags::WRITE) };
    // SAFETY: the same region, unmapped once; nothing refers to it.
    let unmapped = unsafe { rustix::mm::munmap(addr, len) };
    res?;
    unmapped?;
    Ok(())
}
