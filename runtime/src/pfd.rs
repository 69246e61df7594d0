//! `ParcelFileDescriptor`: AIDL's `ParcelFileDescriptor`, an owned file
//! descriptor that generated code sends and receives. One per descriptor;
//! clones share it, and the last one closes it.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

/// An owned file descriptor as AIDL passes it. Cloning shares the
/// descriptor (it is closed when the last clone drops); sending one sends a
/// duplicate, so the sender keeps its own.
#[derive(Clone)]
pub struct ParcelFileDescriptor(Arc<OwnedFd>);

impl ParcelFileDescriptor {
    /// Takes ownership of a descriptor (an `OwnedFd`, a `File`, a socket...).
    pub fn new(fd: impl Into<OwnedFd>) -> ParcelFileDescriptor {
        ParcelFileDescriptor(Arc::new(fd.into()))
    }

    /// A new descriptor for the same open file (`dup`).
    pub fn try_clone_fd(&self) -> std::io::Result<OwnedFd> {
        self.0.try_clone()
    }

    /// The descriptor itself if this is the only clone, else a duplicate.
    pub fn into_fd(self) -> std::io::Result<OwnedFd> {
        match Arc::try_unwrap(self.0) {
            Ok(fd) => Ok(fd),
            Err(shared) => shared.try_clone(),
        }
    }
}

impl AsFd for ParcelFileDescriptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for ParcelFileDescriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl From<OwnedFd> for ParcelFileDescriptor {
    fn from(fd: OwnedFd) -> ParcelFileDescriptor {
        ParcelFileDescriptor::new(fd)
    }
}

impl From<std::fs::File> for ParcelFileDescriptor {
    fn from(f: std::fs::File) -> ParcelFileDescriptor {
        ParcelFileDescriptor::new(f)
    }
}

impl fmt::Debug for ParcelFileDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParcelFileDescriptor(fd {})", self.0.as_raw_fd())
    }
}

/// Equal when both name the same descriptor (two live descriptors never
/// share a number).
impl PartialEq for ParcelFileDescriptor {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_raw_fd() == other.0.as_raw_fd()
    }
}

impl Eq for ParcelFileDescriptor {}
