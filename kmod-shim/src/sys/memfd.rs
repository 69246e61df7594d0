//! Memfds and their mappings: the receive buffer, the send area and blobs.
//!
//! Three kinds of memfd travel in capbinder, and each has a helper here that
//! seals it the way DESIGN.md says:
//!
//! - the **receive buffer**, one per process: the mediator creates it, maps it
//!   read-write, then seals it `F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK |
//!   F_SEAL_GROW | F_SEAL_SEAL` ([`create_receive_buffer`]), so the client can
//!   only map it read-only ([`Mapping::shared_read_only`]);
//! - the **send area**, one per binder thread: the mediator creates it sealed
//!   `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL` ([`create_send_area`]), and
//!   both sides map it read-write;
//! - a **blob**, one per large payload: the sender writes it, seals it
//!   `F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`
//!   ([`create_blob`]), and the receiver checks that ([`verify_blob_seals`])
//!   before mapping it privately ([`Mapping::private_sealed`]).
//!
//! A [`Mapping`] owns one `mmap` region: it is `MADV_DONTFORK` from birth and
//! unmapped on drop. Every constructor insists the file is sealed against
//! shrinking and at least as long as the mapping, so a peer's `ftruncate` can
//! never make us take `SIGBUS`. Memory another process can write may change
//! while we read it, so shared mappings are read and written only by copying
//! ([`Mapping::read_at`], [`Mapping::write_at`]); only a blob, which nobody can
//! write, is lent out as a `&[u8]` ([`Mapping::as_slice`]).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::MemfdFlags;
use rustix::mm::{Advice, MapFlags, ProtFlags};

/// The `F_SEAL_*` bits, re-exported from rustix.
pub use rustix::fs::SealFlags;

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL)`:
/// a new anonymous file, empty, that can be sealed and never executed.
///
/// `name` shows in `/proc/<pid>/fd` as `memfd:<name>`; it need not be unique.
/// `MFD_NOEXEC_SEAL` (Linux 6.3) is dropped on a kernel that refuses it, so
/// the file is then merely not executable by mode.
pub fn memfd_create(name: &str) -> io::Result<OwnedFd> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    match rustix::fs::memfd_create(name, flags | MemfdFlags::NOEXEC_SEAL) {
        Err(rustix::io::Errno::INVAL) => Ok(rustix::fs::memfd_create(name, flags)?),
        other => Ok(other?),
    }
}

/// `ftruncate(fd, len)`: sets the memfd's size (new bytes read as zero).
///
/// Fails with `EPERM` once the memfd is sealed against the change.
pub fn ftruncate(fd: impl AsFd, len: u64) -> io::Result<()> {
    Ok(rustix::fs::ftruncate(fd, len)?)
}

/// `fstat(fd).st_size`: the file's size in bytes.
pub fn fstat_size(fd: impl AsFd) -> io::Result<u64> {
    let st = rustix::fs::fstat(fd)?;
    u64::try_from(st.st_size).map_err(|_| io::Error::other("fstat reported a negative size"))
}

/// `fcntl(fd, F_ADD_SEALS, seals)`: adds seals to a memfd. Seals are never
/// removed.
///
/// Fails with `EPERM` when `F_SEAL_SEAL` is already set, with `EBUSY` when
/// adding `F_SEAL_WRITE` while a writable shared mapping exists, and with
/// `EINVAL` when `fd` is not a memfd made with `MFD_ALLOW_SEALING`.
pub fn fcntl_add_seals(fd: impl AsFd, seals: SealFlags) -> io::Result<()> {
    Ok(rustix::fs::fcntl_add_seals(fd, seals)?)
}

/// `fcntl(fd, F_GET_SEALS)`: the seals a memfd carries now.
///
/// Fails with `EINVAL` when `fd` is not a file that supports sealing.
pub fn fcntl_get_seals(fd: impl AsFd) -> io::Result<SealFlags> {
    Ok(rustix::fs::fcntl_get_seals(fd)?)
}

/// The seals a receive buffer carries before the client gets it.
pub const RECEIVE_BUFFER_SEALS: SealFlags = SealFlags::FUTURE_WRITE
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// The seals a send area carries before the client gets it.
pub const SEND_AREA_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// The seals a sender puts on a blob: nobody can change it afterwards.
pub const BLOB_SEALS: SealFlags = SealFlags::WRITE
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// Seals a receive buffer: `F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW
/// | F_SEAL_SEAL`. Mappings made before this call stay writable; any made
/// after it, and `write(2)`, cannot write.
pub fn seal_receive_buffer(fd: impl AsFd) -> io::Result<()> {
    fcntl_add_seals(fd, RECEIVE_BUFFER_SEALS)
}

/// Seals a send area: `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, so a
/// client's `ftruncate` cannot make the mediator fault.
pub fn seal_send_area(fd: impl AsFd) -> io::Result<()> {
    fcntl_add_seals(fd, SEND_AREA_SEALS)
}

/// Seals a blob: `F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`.
///
/// Fails with `EBUSY` while any writable shared mapping of it exists: drop
/// those [`Mapping`]s first.
pub fn seal_blob(fd: impl AsFd) -> io::Result<()> {
    fcntl_add_seals(fd, BLOB_SEALS)
}

/// One memfd seal, for naming what is missing in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seal {
    /// `F_SEAL_SEAL`: no more seals can be added.
    Seal,
    /// `F_SEAL_SHRINK`: the file cannot shrink.
    Shrink,
    /// `F_SEAL_GROW`: the file cannot grow.
    Grow,
    /// `F_SEAL_WRITE`: the contents cannot change, through any mapping.
    Write,
    /// `F_SEAL_FUTURE_WRITE`: no new way to write, but old mappings keep
    /// theirs.
    FutureWrite,
}

impl Seal {
    /// The seal's bit in `F_GET_SEALS`.
    pub fn flag(self) -> SealFlags {
        match self {
            Seal::Seal => SealFlags::SEAL,
            Seal::Shrink => SealFlags::SHRINK,
            Seal::Grow => SealFlags::GROW,
            Seal::Write => SealFlags::WRITE,
            Seal::FutureWrite => SealFlags::FUTURE_WRITE,
        }
    }
}

impl fmt::Display for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seal::Seal => "F_SEAL_SEAL",
            Seal::Shrink => "F_SEAL_SHRINK",
            Seal::Grow => "F_SEAL_GROW",
            Seal::Write => "F_SEAL_WRITE",
            Seal::FutureWrite => "F_SEAL_FUTURE_WRITE",
        })
    }
}

/// A memfd does not carry the seals it must.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// `F_GET_SEALS` failed: the fd is not a memfd that allows sealing.
    #[error(
        "reading the fd's seals failed ({0}): it is not a sealable memfd; \
         send a memfd made with MFD_ALLOW_SEALING"
    )]
    NotSealable(#[source] io::Error),
    /// A required seal is absent.
    #[error(
        "the memfd lacks {0}: the sender must add it with fcntl(F_ADD_SEALS) \
         before handing the fd over"
    )]
    Missing(Seal),
    /// The blob has `F_SEAL_FUTURE_WRITE` instead of `F_SEAL_WRITE`.
    #[error(
        "the memfd is sealed with F_SEAL_FUTURE_WRITE but not F_SEAL_WRITE, so a \
         mapping the sender made earlier can still change it; the sender must \
         unmap it and seal it with F_SEAL_WRITE"
    )]
    FutureWriteOnly,
}

fn require(seals: SealFlags, seal: Seal) -> Result<(), SealError> {
    if seals.contains(seal.flag()) {
        Ok(())
    } else {
        Err(SealError::Missing(seal))
    }
}

/// Checks that a blob cannot change: `F_SEAL_WRITE`, `F_SEAL_SHRINK` and
/// `F_SEAL_GROW` must be set. `F_SEAL_FUTURE_WRITE` does not stand in for
/// `F_SEAL_WRITE`, because a writable mapping made before it keeps writing.
pub fn verify_blob_seals(fd: impl AsFd) -> Result<(), SealError> {
    let seals = fcntl_get_seals(fd).map_err(SealError::NotSealable)?;
    if !seals.contains(SealFlags::WRITE) && seals.contains(SealFlags::FUTURE_WRITE) {
        return Err(SealError::FutureWriteOnly);
    }
    require(seals, Seal::Write)?;
    require(seals, Seal::Shrink)?;
    require(seals, Seal::Grow)
}

/// Creates a receive buffer of `len` bytes the way the mediator must: create,
/// size, seal against shrink and grow, map read-write, then seal
/// `F_SEAL_FUTURE_WRITE | F_SEAL_SEAL`.
///
/// Returns the fd to hand to the client (close it after sending) and the
/// mediator's writable mapping, which stays writable after the seal.
pub fn create_receive_buffer(name: &str, len: usize) -> Result<(OwnedFd, Mapping), MapError> {
    let fd = sized_memfd(name, len)?;
    fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).map_err(MapError::Seal)?;
    let map = Mapping::shared_read_write(fd.as_fd(), len)?;
    seal_receive_buffer(&fd).map_err(MapError::Seal)?;
    Ok((fd, map))
}

/// Creates a send area of `len` bytes sealed `F_SEAL_SHRINK | F_SEAL_GROW |
/// F_SEAL_SEAL`, with the mediator's read-write mapping of it.
///
/// The client maps the same fd with [`Mapping::shared_read_write`]. The
/// mediator must [`Mapping::read_at`] a message out before it validates it:
/// the client can change the send area at any moment.
pub fn create_send_area(name: &str, len: usize) -> Result<(OwnedFd, Mapping), MapError> {
    let fd = sized_memfd(name, len)?;
    seal_send_area(&fd).map_err(MapError::Seal)?;
    let map = Mapping::shared_read_write(fd.as_fd(), len)?;
    Ok((fd, map))
}

/// Creates a blob holding `data`, sealed [`BLOB_SEALS`], without mapping it.
pub fn create_blob(name: &str, data: &[u8]) -> io::Result<OwnedFd> {
    let fd = memfd_create(name)?;
    let mut done = 0;
    while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
        let offset = u64::try_from(done).map_err(io::Error::other)?;
        match rustix::io::pwrite(&fd, rest, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    seal_written_blob(&fd)?;
    Ok(fd)
}

/// How many times [`create_blob`] asks for the write seal while the
/// kernel reports its pages busy.
const SEAL_ATTEMPTS: u32 = 8;

/// Seals a blob that was written with `pwrite` and never mapped. Its
/// pages can still be busy for a moment: `F_SEAL_WRITE` fails with `EBUSY`
/// while any page has a reference beyond the page cache's, and the kernel
/// takes such references of its own (a page isolated by reclaim or
/// compaction, or batched for the LRU on another CPU). It waits about
/// 150 ms itself before it says `EBUSY`; seen once in CI, on a 16 MiB
/// blob, under a full benchmark. With no mapping of ours to wait for, the
/// pin goes away, so ask again a few times before giving up.
fn seal_written_blob(fd: &OwnedFd) -> io::Result<()> {
    let mut attempt = 1;
    loop {
        match seal_blob(fd) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < SEAL_ATTEMPTS => {
                attempt += 1;
                std::thread::yield_now();
            }
            r => return r,
        }
    }
}

fn sized_memfd(name: &str, len: usize) -> Result<OwnedFd, MapError> {
    let fd = memfd_create(name).map_err(MapError::Create)?;
    let size = u64::try_from(len).map_err(|e| MapError::Create(io::Error::other(e)))?;
    ftruncate(&fd, size).map_err(MapError::Create)?;
    Ok(fd)
}

/// Making a [`Mapping`] (or the memfd behind it) failed.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// `memfd_create` or `ftruncate` failed.
    #[error("creating the memfd failed: {0}; check RLIMIT_NOFILE and memory limits")]
    Create(#[source] io::Error),
    /// `F_ADD_SEALS` failed.
    #[error("sealing the memfd failed: {0}")]
    Seal(#[source] io::Error),
    /// `fstat` on the fd failed.
    #[error("fstat on the memfd failed: {0}")]
    Stat(#[source] io::Error),
    /// The file is shorter than the mapping asked for.
    #[error(
        "cannot map {len} bytes of a {size}-byte file: reading past its end would \
         raise SIGBUS; map at most the file's size"
    )]
    TooLong {
        /// Bytes asked for.
        len: usize,
        /// The file's size.
        size: u64,
    },
    /// The file lacks a seal this kind of mapping needs.
    #[error(transparent)]
    Seals(#[from] SealError),
    /// `mmap` failed.
    #[error(
        "mmap of the memfd failed: {0}; a read-write mapping of a memfd sealed \
         with F_SEAL_WRITE or F_SEAL_FUTURE_WRITE is refused with EPERM"
    )]
    Mmap(#[source] io::Error),
    /// `madvise(MADV_DONTFORK)` failed.
    #[error("madvise(MADV_DONTFORK) on the new mapping failed: {0}")]
    Madvise(#[source] io::Error),
}

/// A read or write on a [`Mapping`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The range does not lie inside the mapping.
    #[error("range at offset {offset} of {len} bytes is outside the {size}-byte mapping")]
    OutOfBounds {
        /// Start of the range asked for.
        offset: usize,
        /// Length of the range asked for.
        len: usize,
        /// The mapping's length.
        size: usize,
    },
    /// A write to a read-only mapping.
    #[error("the mapping is read-only; only the mediator's mapping of a buffer is writable")]
    ReadOnly,
    /// A copy within one mapping whose source and destination overlap.
    #[error(
        "copying {len} bytes from offset {src} to offset {dst} of one mapping: the ranges overlap"
    )]
    Overlap {
        /// Source offset.
        src: usize,
        /// Destination offset.
        dst: usize,
        /// Length.
        len: usize,
    },
}

/// How a [`Mapping`] maps its file, which decides what it lets you do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingKind {
    /// `MAP_SHARED`, `PROT_READ | PROT_WRITE`: the mediator's view of a
    /// receive buffer, either side's view of a send area. Copies only.
    SharedReadWrite,
    /// `MAP_SHARED`, `PROT_READ`: the client's receive buffer, which the
    /// mediator writes. Copies only.
    SharedReadOnly,
    /// `MAP_PRIVATE`, `PROT_READ` of a file sealed `F_SEAL_WRITE`: a received
    /// blob. Nobody can change it, so it lends out `&[u8]`.
    PrivateSealed,
}

/// An owned memory mapping of a memfd: `MADV_DONTFORK`, unmapped on drop.
///
/// The fd it was made from may be closed once the mapping exists (DESIGN.md:
/// memfd fds are closed after mapping).
pub struct Mapping {
    /// Start of the region; dangling (and never dereferenced) when `len == 0`.
    ptr: NonNull<u8>,
    /// Length in bytes; the region is exactly what `mmap` returned for it.
    len: usize,
    /// How it was mapped.
    kind: MappingKind,
}

// SAFETY: a `Mapping` owns its region outright, like a `Box<[u8]>`; nothing
// in it is tied to the thread that made it, and `munmap` may run on any thread.
unsafe impl Send for Mapping {}
// SAFETY: through `&Mapping` the region is only read (`read_at`, `as_slice`);
// writes need `&mut Mapping` (or, for a `SendArea`'s private mapping, its one
// `SendLease` borrowed mutably), so threads sharing a `&Mapping` never race
// with each other. Another process writing concurrently is why shared kinds are
// read only by copying.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`: a
    /// read-write shared mapping, then `madvise(MADV_DONTFORK)`.
    ///
    /// The file must be sealed `F_SEAL_SHRINK` and hold at least `len` bytes.
    /// The kernel refuses this (`EPERM`) once the file has `F_SEAL_WRITE` or
    /// `F_SEAL_FUTURE_WRITE`.
    pub fn shared_read_write(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping, MapError> {
        Self::map(
            fd,
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            MappingKind::SharedReadWrite,
        )
    }

    /// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)`: a read-only shared
    /// mapping, then `madvise(MADV_DONTFORK)`.
    ///
    /// The file must be sealed `F_SEAL_SHRINK` and hold at least `len` bytes.
    /// After `F_SEAL_FUTURE_WRITE` the kernel makes this mapping impossible to
    /// `mprotect` writable.
    pub fn shared_read_only(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping, MapError> {
        Self::map(
            fd,
            len,
            ProtFlags::READ,
            MapFlags::SHARED,
            MappingKind::SharedReadOnly,
        )
    }

    /// `mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0)` of a blob, after
    /// [`verify_blob_seals`], then `madvise(MADV_DONTFORK)`.
    ///
    /// Because the file is sealed `F_SEAL_WRITE`, its contents cannot change,
    /// and [`Mapping::as_slice`] may lend them out.
    pub fn private_sealed(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping, MapError> {
        verify_blob_seals(fd)?;
        Self::map(
            fd,
            len,
            ProtFlags::READ,
            MapFlags::PRIVATE,
            MappingKind::PrivateSealed,
        )
    }

    fn map(
        fd: BorrowedFd<'_>,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        kind: MappingKind,
    ) -> Result<Mapping, MapError> {
        let seals = fcntl_get_seals(fd).map_err(SealError::NotSealable)?;
        require(seals, Seal::Shrink)?;
        let size = fstat_size(fd).map_err(MapError::Stat)?;
        if u64::try_from(len).map_or(true, |l| l > size) {
            return Err(MapError::TooLong { len, size });
        }
        if len == 0 {
            return Ok(Mapping {
                ptr: NonNull::dangling(),
                len,
                kind,
            });
        }
        // SAFETY: a null hint lets the kernel choose a fresh range, so the new
        // mapping cannot overlap memory any Rust object owns. The file is at
        // least `len` bytes and sealed against shrinking, so every byte of the
        // region stays backed (no SIGBUS).
        let raw = unsafe { rustix::mm::mmap(ptr::null_mut(), len, prot, flags, fd, 0) }
            .map_err(|e| MapError::Mmap(e.into()))?;
        let ptr = NonNull::new(raw.cast::<u8>())
            .ok_or_else(|| MapError::Mmap(io::Error::other("mmap returned NULL")))?;
        // Own it before anything else can fail, so an error below unmaps it.
        let map = Mapping { ptr, len, kind };
        // SAFETY: the range is exactly the mapping made above, which `map` owns;
        // MADV_DONTFORK changes only whether a forked child inherits it.
        unsafe { rustix::mm::madvise(raw, len, Advice::LinuxDontFork) }
            .map_err(|e| MapError::Madvise(e.into()))?;
        Ok(map)
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (a zero-length file maps to nothing).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How this mapping was made.
    pub fn kind(&self) -> MappingKind {
        self.kind
    }

    /// The mapped bytes, for a blob ([`MappingKind::PrivateSealed`]) only;
    /// `None` for shared mappings, whose bytes another process may change
    /// while we look (copy them out with [`Mapping::read_at`]).
    pub fn as_slice(&self) -> Option<&[u8]> {
        if self.kind != MappingKind::PrivateSealed {
            return None;
        }
        if self.len == 0 {
            return Some(&[]);
        }
        // SAFETY: the region is `len` readable bytes we own until drop, which
        // the returned borrow of `self` cannot outlive. It is a private mapping
        // of a file sealed F_SEAL_WRITE, and we never write to it, so no one
        // can change the bytes while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) })
    }

    fn check(&self, offset: usize, len: usize) -> Result<(), AccessError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(AccessError::OutOfBounds {
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// Lends `len` bytes at `offset` of a client's receive buffer
    /// ([`MappingKind::SharedReadOnly`] only): a received payload read in
    /// place, with no copy (what libbinder does with its mmap).
    ///
    /// Only for a range the mediator delivered and that the process has not
    /// freed yet. Binder's contract makes such a range stable: the mediator
    /// writes a range only between reserving and delivering it, and
    /// reserves it again only after the owner's `FreeBuffer`; the client's
    /// own mapping is read-only. The runtime holds the `FreeBuffer` until
    /// the borrowing parcel is dropped.
    pub fn delivered_slice(&self, offset: usize, len: usize) -> Result<&[u8], AccessError> {
        if self.kind != MappingKind::SharedReadOnly {
            return Err(AccessError::ReadOnly);
        }
        self.check(offset, len)?;
        if len == 0 {
            return Ok(&[]);
        }
        // SAFETY: the range was bounds-checked and lies in the region we own
        // until drop, which the borrow of `self` cannot outlive. Nobody
        // writes it while the slice lives: our mapping is PROT_READ, and the
        // mediator (trusted, see above) does not touch a delivered range
        // before it is freed.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) })
    }

    /// Copies `dst.len()` bytes starting at `offset` out of the mapping.
    ///
    /// For a shared mapping the bytes are a snapshot: validate the copy, never
    /// re-read the mapping for the same value.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<(), AccessError> {
        self.check(offset, dst.len())?;
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: `offset + dst.len() <= self.len` was checked, so the source
        // lies inside the region we own; `dst` is a distinct Rust buffer, and
        // we never hand out a `&mut` into a mapping, so the two cannot overlap.
        // The copy goes through raw pointers and creates no reference to the
        // shared bytes, which another process may be writing.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), dst.as_mut_ptr(), dst.len());
        }
        Ok(())
    }

    /// Copies `len` bytes starting at `offset` into a new `Vec`.
    pub fn read_vec(&self, offset: usize, len: usize) -> Result<Vec<u8>, AccessError> {
        self.check(offset, len)?;
        let mut out = Vec::with_capacity(len);
        // SAFETY: the source range was bounds-checked and lies in our
        // region; `out` has capacity for `len` bytes and is a distinct
        // allocation; after the copy all `len` bytes are initialized, so
        // `set_len` exposes no uninitialized memory. (A zero-filled `vec!`
        // first would touch every page twice.)
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), out.as_mut_ptr(), len);
            out.set_len(len);
        }
        Ok(out)
    }

    /// Copies `src` into the mapping starting at `offset`; only for
    /// [`MappingKind::SharedReadWrite`].
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<(), AccessError> {
        if self.kind != MappingKind::SharedReadWrite {
            return Err(AccessError::ReadOnly);
        }
        self.check(offset, src.len())?;
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: the range was bounds-checked and lies in our own region,
        // which is mapped PROT_WRITE (kind SharedReadWrite); `&mut self` rules
        // out another thread of ours touching it; `src` is a Rust slice, which
        // cannot point into this mapping (a send area is never lent out; a
        // lent receive-buffer range is another mapping).
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len());
        }
        Ok(())
    }

    /// Writes zeros over `len` bytes at `offset` (a sensitive payload's
    /// range, freed); only for [`MappingKind::SharedReadWrite`].
    pub fn zero(&mut self, offset: usize, len: usize) -> Result<(), AccessError> {
        if self.kind != MappingKind::SharedReadWrite {
            return Err(AccessError::ReadOnly);
        }
        self.check(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: bounds-checked, inside our own region mapped PROT_WRITE
        // (kind SharedReadWrite); `&mut self` rules out another thread of
        // ours touching it.
        unsafe {
            ptr::write_bytes(self.ptr.as_ptr().add(offset), 0, len);
        }
        Ok(())
    }

    /// Copies `len` bytes at `src_offset` of this mapping straight into
    /// `dst` at `dst_offset`: one `memcpy` from mapping to mapping, with no
    /// buffer in between (the mediator's payload copy, send area to receive
    /// buffer). `dst` must be [`MappingKind::SharedReadWrite`].
    ///
    /// Both ranges are checked first. When another process writes the
    /// source while it is copied, the destination gets some mix of old and
    /// new bytes: a torn payload, harmful only to whoever tore it.
    pub fn copy_to(
        &self,
        src_offset: usize,
        dst: &mut Mapping,
        dst_offset: usize,
        len: usize,
    ) -> Result<(), AccessError> {
        if dst.kind != MappingKind::SharedReadWrite {
            return Err(AccessError::ReadOnly);
        }
        self.check(src_offset, len)?;
        dst.check(dst_offset, len)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: both ranges were bounds-checked against regions we own, and
        // `dst` is mapped PROT_WRITE (kind SharedReadWrite). Two `Mapping`s are
        // two distinct `mmap` regions (each owns its own, and `&self` with
        // `&mut dst` cannot be the same one), so the ranges do not overlap even
        // when both map the same file. The copy goes through raw pointers and
        // makes no reference to bytes another process may be changing.
        unsafe {
            ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(src_offset),
                dst.ptr.as_ptr().add(dst_offset),
                len,
            );
        }
        Ok(())
    }
}

impl Mapping {
    /// Copies `len` bytes at `src_offset` of this mapping to `dst_offset`
    /// of the same mapping (a splice within one receive buffer); the two
    /// ranges must not overlap. The mapping must be
    /// [`MappingKind::SharedReadWrite`].
    pub fn copy_within(
        &mut self,
        src_offset: usize,
        dst_offset: usize,
        len: usize,
    ) -> Result<(), AccessError> {
        if self.kind != MappingKind::SharedReadWrite {
            return Err(AccessError::ReadOnly);
        }
        self.check(src_offset, len)?;
        self.check(dst_offset, len)?;
        let disjoint = src_offset + len <= dst_offset || dst_offset + len <= src_offset;
        if !disjoint {
            return Err(AccessError::Overlap {
                src: src_offset,
                dst: dst_offset,
                len,
            });
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: both ranges were bounds-checked against the region this
        // mapping owns and found disjoint just above, and the mapping is
        // PROT_WRITE (kind SharedReadWrite). Raw pointers only: no reference
        // to bytes another process may be changing.
        unsafe {
            ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(src_offset),
                self.ptr.as_ptr().add(dst_offset),
                len,
            );
        }
        Ok(())
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: `ptr`/`len` are exactly one region `mmap` gave us and that we
        // still own; every borrow handed out (`as_slice`) borrows `self` and so
        // has ended before drop.
        let res = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        debug_assert!(res.is_ok(), "munmap of our own mapping failed: {res:?}");
    }
}

/// A thread's send area as the client uses it: written in place by at most
/// one writer at a time, the thread channel or a parcel being built.
///
/// Every write to it and every borrow of its bytes goes through the one
/// [`SendLease`], so the borrow checker keeps writes and borrows apart (a
/// `&mut` lease writes, a `&` lease lends bytes), and a second would-be
/// writer learns the area is busy instead of overwriting a payload being
/// built. The mediator only reads a send area, while it handles a command
/// that names it.
pub struct SendArea {
    /// `SharedReadWrite`; reached only through a lease.
    map: Mapping,
    /// A lease exists.
    leased: AtomicBool,
}

impl fmt::Debug for SendArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendArea")
            .field("len", &self.map.len)
            .field("leased", &self.leased.load(Ordering::Relaxed))
            .finish()
    }
}

impl SendArea {
    /// Wraps a read-write shared mapping.
    pub fn new(map: Mapping) -> Result<Arc<SendArea>, AccessError> {
        if map.kind != MappingKind::SharedReadWrite {
            return Err(AccessError::ReadOnly);
        }
        Ok(Arc::new(SendArea {
            map,
            leased: AtomicBool::new(false),
        }))
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Whether it is empty (never, for a real send area).
    pub fn is_empty(&self) -> bool {
        self.map.len == 0
    }

    /// The lease, unless someone holds it.
    pub fn try_lease(self: &Arc<Self>) -> Option<SendLease> {
        self.leased
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(SendLease { area: self.clone() })
    }
}

/// The right to write a [`SendArea`] and read back what was written;
/// released on drop.
pub struct SendLease {
    area: Arc<SendArea>,
}

impl fmt::Debug for SendLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendLease")
            .field("len", &self.area.map.len)
            .finish()
    }
}

impl SendLease {
    /// The area's length in bytes.
    pub fn len(&self) -> usize {
        self.area.map.len
    }

    /// Whether the area is empty.
    pub fn is_empty(&self) -> bool {
        self.area.map.len == 0
    }

    /// Whether this is a lease on `area`.
    pub fn is_of(&self, area: &Arc<SendArea>) -> bool {
        Arc::ptr_eq(&self.area, area)
    }

    /// Copies `src` into the area at `offset`.
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<(), AccessError> {
        self.slice_mut(offset, src.len())?.copy_from_slice(src);
        Ok(())
    }

    /// Lends `len` bytes at `offset` for writing in place (a payload built
    /// where the mediator will copy it from, with no buffer in between).
    pub fn slice_mut(&mut self, offset: usize, len: usize) -> Result<&mut [u8], AccessError> {
        self.area.map.check(offset, len)?;
        if len == 0 {
            return Ok(&mut []);
        }
        // SAFETY: the range was bounds-checked and lies in the region the
        // area owns (mapped PROT_WRITE, kind checked at `SendArea::new`),
        // alive as long as the `Arc` we hold. This is the only lease (the
        // flag), and the borrow of `&mut self` rules out any other borrow
        // of the area's bytes in this process while the slice lives. The
        // mediator, in another process, only reads the area while it
        // handles a command naming it; a client that writes meanwhile
        // harms only its own payload.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.area.map.ptr.as_ptr().add(offset), len) })
    }

    /// The first `len` bytes, as written through this lease.
    pub fn bytes(&self, len: usize) -> Result<&[u8], AccessError> {
        self.area.map.check(0, len)?;
        if len == 0 {
            return Ok(&[]);
        }
        // SAFETY: bounds-checked, inside the region the `Arc` keeps alive;
        // writes need `&mut self` (this lease is the only writer in this
        // process), so nothing changes the bytes while `&self` is borrowed.
        Ok(unsafe { std::slice::from_raw_parts(self.area.map.ptr.as_ptr(), len) })
    }
}

impl Drop for SendLease {
    fn drop(&mut self) {
        self.area.leased.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_area_has_one_lease_at_a_time_and_reads_back_what_it_wrote() {
        let fd = memfd_create("send").unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        seal_send_area(&fd).unwrap();
        let area = SendArea::new(Mapping::shared_read_write(fd.as_fd(), 4096).unwrap()).unwrap();
        let mut lease = area.try_lease().expect("free");
        assert!(area.try_lease().is_none(), "a second writer is refused");
        lease.write_at(0, b"hello").unwrap();
        lease.slice_mut(5, 3).unwrap().copy_from_slice(b"abc");
        assert_eq!(lease.bytes(8).unwrap(), b"helloabc");
        assert!(lease.is_of(&area));
        assert!(matches!(
            lease.write_at(4094, b"xyz"),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(lease.bytes(4097).is_err());
        drop(lease);
        let again = area.try_lease().expect("released on drop");
        assert_eq!(again.bytes(5).unwrap(), b"hello", "the same memory");
        let ro = memfd_create("ro").unwrap();
        rustix::fs::ftruncate(&ro, 4096).unwrap();
        seal_receive_buffer(&ro).unwrap();
        assert!(SendArea::new(Mapping::shared_read_only(ro.as_fd(), 4096).unwrap()).is_err());
    }

    const PAGE: usize = 4096;

    #[test]
    fn memfd_is_cloexec_and_sealable() {
        let fd = memfd_create("t").unwrap();
        let flags = rustix::io::fcntl_getfd(&fd).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        let seals = fcntl_get_seals(&fd).unwrap();
        assert!(
            !seals.contains(SealFlags::SEAL),
            "sealing must be allowed: {seals:?}"
        );
        ftruncate(&fd, 3 * PAGE as u64).unwrap();
        assert_eq!(fstat_size(&fd).unwrap(), 3 * PAGE as u64);
    }

    #[test]
    fn receive_buffer_written_by_mediator_is_seen_by_client() {
        let (fd, mut mediator) = create_receive_buffer("rx", 2 * PAGE).unwrap();
        let client = Mapping::shared_read_only(fd.as_fd(), 2 * PAGE).unwrap();
        drop(fd); // memfds are closed after mapping; the mappings stay valid
        mediator.write_at(PAGE - 2, b"hello").unwrap();
        let mut got = [0u8; 5];
        client.read_at(PAGE - 2, &mut got).unwrap();
        assert_eq!(&got, b"hello");
        assert_eq!(client.as_slice(), None, "shared memory is never lent out");
    }

    #[test]
    fn client_cannot_make_receive_buffer_writable() {
        let (fd, _mediator) = create_receive_buffer("rx", PAGE).unwrap();
        let seals = fcntl_get_seals(&fd).unwrap();
        assert!(seals.contains(RECEIVE_BUFFER_SEALS), "{seals:?}");

        // mmap(MAP_SHARED, PROT_WRITE) is refused after F_SEAL_FUTURE_WRITE.
        let err = Mapping::shared_read_write(fd.as_fd(), PAGE).unwrap_err();
        match err {
            MapError::Mmap(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
            other => panic!("expected mmap to fail, got {other}"),
        }

        // mprotect(PROT_WRITE) on the client's read-only mapping is refused.
        let client = Mapping::shared_read_only(fd.as_fd(), PAGE).unwrap();
        // SAFETY: the range is `client`'s own mapping; if the call succeeded it
        // would only add write permission, and nothing writes through it.
        let res = unsafe {
            rustix::mm::mprotect(
                client.ptr.as_ptr().cast(),
                client.len,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::WRITE,
            )
        };
        assert_eq!(res, Err(rustix::io::Errno::ACCESS));

        // write(2), ftruncate and further seals are refused too.
        assert_eq!(
            rustix::io::pwrite(&fd, b"x", 0),
            Err(rustix::io::Errno::PERM)
        );
        assert!(ftruncate(&fd, 0).is_err());
        assert!(ftruncate(&fd, 2 * PAGE as u64).is_err());
        assert!(fcntl_add_seals(&fd, SealFlags::WRITE).is_err());
    }

    #[test]
    fn client_cannot_resize_send_area() {
        let (fd, mut mediator) = create_send_area("tx", PAGE).unwrap();
        let mut client = Mapping::shared_read_write(fd.as_fd(), PAGE).unwrap();
        assert_eq!(
            ftruncate(&fd, 0).unwrap_err().raw_os_error(),
            Some(libc::EPERM)
        );
        client.write_at(0, b"call").unwrap();
        assert_eq!(mediator.read_vec(0, 4).unwrap(), b"call");
        mediator.write_at(4, b"!").unwrap();
        assert_eq!(client.read_vec(3, 2).unwrap(), b"l!");
    }

    #[test]
    fn mapping_needs_shrink_seal_and_enough_file() {
        let fd = memfd_create("t").unwrap();
        ftruncate(&fd, PAGE as u64).unwrap();
        match Mapping::shared_read_write(fd.as_fd(), PAGE) {
            Err(MapError::Seals(SealError::Missing(Seal::Shrink))) => {}
            other => panic!("expected missing F_SEAL_SHRINK, got {other:?}"),
        }
        fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
        match Mapping::shared_read_write(fd.as_fd(), PAGE + 1) {
            Err(MapError::TooLong { len, size }) => {
                assert_eq!((len, size), (PAGE + 1, PAGE as u64))
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
        let map = Mapping::shared_read_write(fd.as_fd(), PAGE).unwrap();
        assert_eq!(map.len(), PAGE);
    }

    #[test]
    fn access_out_of_bounds_is_an_error_not_a_fault() {
        let (_fd, mut map) = create_send_area("tx", PAGE).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            map.read_at(PAGE - 4, &mut buf),
            Err(AccessError::OutOfBounds {
                offset: PAGE - 4,
                len: 8,
                size: PAGE
            })
        );
        assert!(map.read_at(usize::MAX, &mut buf).is_err());
        assert!(map.write_at(usize::MAX - 1, &buf).is_err());
        assert!(map.read_vec(1, usize::MAX).is_err());
        map.read_at(PAGE - 8, &mut buf).unwrap();
        map.read_at(PAGE, &mut []).unwrap();
    }

    #[test]
    fn copy_to_moves_bytes_between_mappings_bounds_checked() {
        let (_tx, mut send) = create_send_area("tx", PAGE).unwrap();
        let (rx, mut recv) = create_receive_buffer("rx", 2 * PAGE).unwrap();
        let client = Mapping::shared_read_only(rx.as_fd(), 2 * PAGE).unwrap();
        send.write_at(10, b"payload").unwrap();
        send.copy_to(10, &mut recv, PAGE - 3, 7).unwrap();
        assert_eq!(client.read_vec(PAGE - 3, 7).unwrap(), b"payload");
        assert!(send.copy_to(PAGE - 1, &mut recv, 0, 2).is_err());
        assert!(send.copy_to(0, &mut recv, 2 * PAGE - 1, 2).is_err());
        assert!(send.copy_to(usize::MAX, &mut recv, 0, 2).is_err());
        send.copy_to(PAGE, &mut recv, 2 * PAGE, 0).unwrap();
        let mut ro = Mapping::shared_read_only(rx.as_fd(), PAGE).unwrap();
        assert_eq!(send.copy_to(0, &mut ro, 0, 1), Err(AccessError::ReadOnly));
    }

    #[test]
    fn copy_within_moves_bytes_inside_one_buffer_refusing_overlap() {
        let (rx, mut recv) = create_receive_buffer("rx", 2 * PAGE).unwrap();
        let client = Mapping::shared_read_only(rx.as_fd(), 2 * PAGE).unwrap();
        recv.write_at(100, b"spliced").unwrap();
        recv.copy_within(100, PAGE + 5, 7).unwrap();
        assert_eq!(client.read_vec(PAGE + 5, 7).unwrap(), b"spliced");
        assert!(matches!(
            recv.copy_within(100, 103, 7),
            Err(AccessError::Overlap { .. })
        ));
        assert!(recv.copy_within(0, 2 * PAGE - 1, 2).is_err());
        assert!(recv.copy_within(usize::MAX, 0, 2).is_err());
        let mut ro = Mapping::shared_read_only(rx.as_fd(), PAGE).unwrap();
        assert_eq!(ro.copy_within(0, 10, 1), Err(AccessError::ReadOnly));
    }

    #[test]
    fn read_only_mapping_refuses_writes() {
        let (fd, _m) = create_receive_buffer("rx", PAGE).unwrap();
        let mut client = Mapping::shared_read_only(fd.as_fd(), PAGE).unwrap();
        assert_eq!(client.write_at(0, b"x"), Err(AccessError::ReadOnly));
    }

    #[test]
    fn blob_round_trips_and_is_lent_as_slice() {
        let data: Vec<u8> = (0..3 * PAGE + 17).map(|i| (i % 251) as u8).collect();
        let fd = create_blob("blob", &data).unwrap();
        verify_blob_seals(&fd).unwrap();
        let size = usize::try_from(fstat_size(&fd).unwrap()).unwrap();
        let map = Mapping::private_sealed(fd.as_fd(), size).unwrap();
        drop(fd);
        assert_eq!(map.kind(), MappingKind::PrivateSealed);
        assert_eq!(map.as_slice(), Some(&data[..]));
    }

    #[test]
    fn empty_blob_maps_to_empty_slice() {
        let fd = create_blob("empty", &[]).unwrap();
        let map = Mapping::private_sealed(fd.as_fd(), 0).unwrap();
        assert!(map.is_empty());
        assert_eq!(map.as_slice(), Some(&[][..]));
    }

    #[test]
    fn blob_verification_names_the_missing_seal() {
        let fd = memfd_create("b").unwrap();
        ftruncate(&fd, 10).unwrap();
        assert!(matches!(
            verify_blob_seals(&fd),
            Err(SealError::Missing(Seal::Write))
        ));
        fcntl_add_seals(&fd, SealFlags::WRITE | SealFlags::GROW).unwrap();
        let err = verify_blob_seals(&fd).unwrap_err();
        assert!(matches!(err, SealError::Missing(Seal::Shrink)));
        assert!(err.to_string().contains("F_SEAL_SHRINK"), "{err}");
        match Mapping::private_sealed(fd.as_fd(), 10) {
            Err(MapError::Seals(SealError::Missing(Seal::Shrink))) => {}
            other => panic!("expected missing seal, got {other:?}"),
        }
        fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
        verify_blob_seals(&fd).unwrap();
    }

    #[test]
    fn blob_with_only_future_write_is_refused() {
        let fd = memfd_create("b").unwrap();
        fcntl_add_seals(
            &fd,
            SealFlags::FUTURE_WRITE | SealFlags::SHRINK | SealFlags::GROW,
        )
        .unwrap();
        assert!(matches!(
            verify_blob_seals(&fd),
            Err(SealError::FutureWriteOnly)
        ));
    }

    #[test]
    fn non_memfd_is_not_a_blob() {
        let (a, _b) = rustix::pipe::pipe().unwrap();
        assert!(matches!(
            verify_blob_seals(&a),
            Err(SealError::NotSealable(_))
        ));
    }

    #[test]
    fn blob_cannot_be_sealed_while_mapped_writable() {
        let fd = memfd_create("b").unwrap();
        ftruncate(&fd, PAGE as u64).unwrap();
        fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
        let map = Mapping::shared_read_write(fd.as_fd(), PAGE).unwrap();
        assert_eq!(
            seal_blob(&fd).unwrap_err().raw_os_error(),
            Some(libc::EBUSY)
        );
        drop(map);
        seal_blob(&fd).unwrap();
    }

    #[test]
    fn a_written_blob_that_stays_busy_is_still_refused_after_the_retries() {
        // The retries are for the kernel's own short-lived page
        // references; a writable mapping never goes away by itself, so
        // the answer is still EBUSY, not a hang.
        let fd = memfd_create("b").unwrap();
        rustix::io::pwrite(&fd, &[7; PAGE], 0).unwrap();
        // A writable mapping wants the size fixed first.
        fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
        let map = Mapping::shared_read_write(fd.as_fd(), PAGE).unwrap();
        assert_eq!(
            seal_written_blob(&fd).unwrap_err().raw_os_error(),
            Some(libc::EBUSY)
        );
        drop(map);
        seal_written_blob(&fd).unwrap();
        verify_blob_seals(&fd).unwrap();
    }

    #[test]
    fn mappings_are_not_inherited_by_fork() {
        // MADV_DONTFORK shows as "dc" (VM_DONTCOPY) in the mapping's VmFlags.
        let (_fd, map) = create_send_area("dontfork", PAGE).unwrap();
        let start = format!("{:x}-", map.ptr.as_ptr() as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let flags = smaps
            .lines()
            .skip_while(|l| !l.starts_with(&start))
            .find(|l| l.starts_with("VmFlags:"))
            .unwrap_or_else(|| panic!("no VmFlags for the mapping at {start}"));
        assert!(flags.split_whitespace().any(|f| f == "dc"), "{flags}");
    }
}
