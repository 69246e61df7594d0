//! `Parcel`: the data of one call or reply. Values are postcard-encoded one
//! after another; objects (binders, file descriptors) live in a side table
//! and the data names them by index, never by raw handle. Reading never
//! trusts the bytes: a short, garbled or mistyped parcel is a
//! `BadParcelable` status, and an object index that is out of range, of the
//! wrong kind or already taken is an error too.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use capbinder_kmod_shim::sys::memfd::{Mapping, SendLease};
use serde::de::DeserializeOwned;
use serde::Serialize;

use capbinder_core::{DataRange, Rights};

use crate::binder::SpIBinder;
use crate::process::ProcessState;
use crate::status::{ExceptionCode, Result, Status, StatusCode};

/// One entry of a parcel's side table.
#[derive(Debug)]
pub(crate) enum Slot {
    /// A binder (local or remote), with the rights it is passed on with.
    Binder(SpIBinder, Rights),
    /// A file descriptor, until it is read (taken).
    Fd(Option<OwnedFd>),
}

/// Where a parcel's bytes live: owned, written straight into this thread's
/// send area, a delivered range of the receive buffer read in place, or a
/// sealed blob mapped read-only. Received payloads are never copied out; a
/// write to a received parcel copies it first.
enum Data {
    Owned(Vec<u8>),
    InPlace { lease: SendLease, len: usize },
    Received(Delivered),
    Blob(Mapping),
}

impl Data {
    /// The bytes as an owned buffer (a copy unless they are owned already).
    fn into_vec(self) -> Vec<u8> {
        match self {
            Data::Owned(v) => v,
            Data::InPlace { lease, len } => lease.bytes(len).unwrap_or(&[]).to_vec(),
            Data::Received(d) => d.bytes().to_vec(),
            Data::Blob(m) => m.as_slice().unwrap_or(&[]).to_vec(),
        }
    }
}

/// This thread's send area, for a parcel written in place; `None` while
/// another parcel holds it or where the process has no connection.
fn this_threads_send_area() -> Option<SendLease> {
    ProcessState::get()
        .ok()
        .and_then(|p| crate::thread::lease_send_area(&p))
}

/// A parcel's bytes on their way out.
pub(crate) enum Outgoing {
    /// In a buffer, to be copied into the send area (or a blob).
    Bytes(Vec<u8>),
    /// Already at the start of a send area, `len` bytes.
    InPlace(SendLease, usize),
}

/// A delivered range of this process's receive buffer, borrowed: the range
/// is freed (`FreeBuffer`) when this is dropped, never before, so the
/// mediator cannot reuse it while the parcel reads it.
pub(crate) struct Delivered {
    process: Arc<ProcessState>,
    range: DataRange,
}

impl Delivered {
    pub(crate) fn new(process: Arc<ProcessState>, range: DataRange) -> Delivered {
        Delivered { process, range }
    }

    fn bytes(&self) -> &[u8] {
        self.process.dev.buffer_slice(self.range).unwrap_or(&[])
    }
}

impl Drop for Delivered {
    fn drop(&mut self) {
        crate::thread::free_buffer(&self.process, self.range);
    }
}

/// The data of one call or reply.
pub struct Parcel {
    data: Data,
    pos: usize,
    pub(crate) slots: Vec<Slot>,
}

impl std::fmt::Debug for Parcel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parcel")
            .field("len", &self.bytes().len())
            .field("pos", &self.pos)
            .field("objects", &self.slots.len())
            .finish()
    }
}

impl Default for Parcel {
    fn default() -> Self {
        Parcel::new()
    }
}

fn bad(what: impl Into<String>) -> Status {
    Status::exception(ExceptionCode::BadParcelable, what)
}

impl Parcel {
    /// An empty parcel to write into.
    pub fn new() -> Parcel {
        Parcel {
            data: Data::Owned(Vec::new()),
            pos: 0,
            slots: Vec::new(),
        }
    }

    /// An empty parcel written straight into the calling thread's send
    /// area, the memory the mediator copies a payload from: a large payload
    /// built here (with [`write_bytes`](Self::write_bytes) or in place with
    /// [`write_bytes_with`](Self::write_bytes_with)) crosses with one copy
    /// in all, the mediator's, where an ordinary parcel adds two (into the
    /// parcel, then into the send area).
    ///
    /// A thread has one send area. While this parcel lives, the thread's
    /// other sends go as sealed blobs, and another `in_send_area` parcel on
    /// it is an ordinary one; so build it and send it. It becomes an
    /// ordinary parcel when it outgrows the area, and it is one from the
    /// start where the process has no connection yet. Sent from another
    /// thread, it is copied like any other.
    pub fn in_send_area() -> Parcel {
        match this_threads_send_area() {
            Some(lease) => Parcel {
                data: Data::InPlace { lease, len: 0 },
                pos: 0,
                slots: Vec::new(),
            },
            None => Parcel::new(),
        }
    }

    /// Moves an ordinary parcel's bytes into the calling thread's send area
    /// and writes the rest there, as [`in_send_area`](Self::in_send_area)
    /// does; unchanged where the area is taken or too small. For a reply:
    /// call it once the work that may make calls of its own is done, just
    /// before writing a large result (the runtime starts every reply with
    /// a status byte in an ordinary parcel).
    pub fn move_to_send_area(&mut self) {
        let Data::Owned(v) = &self.data else {
            return;
        };
        let Some(mut lease) = this_threads_send_area() else {
            return;
        };
        if lease.write_at(0, v).is_ok() {
            let len = v.len();
            self.data = Data::InPlace { lease, len };
        }
    }

    /// Whether this parcel is being written in a send area (see
    /// [`in_send_area`](Self::in_send_area)).
    pub fn is_in_send_area(&self) -> bool {
        matches!(self.data, Data::InPlace { .. })
    }

    pub(crate) fn from_parts(data: Vec<u8>, slots: Vec<Slot>) -> Parcel {
        Parcel {
            data: Data::Owned(data),
            pos: 0,
            slots,
        }
    }

    pub(crate) fn from_delivered(d: Delivered, slots: Vec<Slot>) -> Parcel {
        Parcel {
            data: Data::Received(d),
            pos: 0,
            slots,
        }
    }

    pub(crate) fn from_blob(map: Mapping, slots: Vec<Slot>) -> Parcel {
        Parcel {
            data: Data::Blob(map),
            pos: 0,
            slots,
        }
    }

    /// All the bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Owned(v) => v,
            Data::InPlace { lease, len } => lease.bytes(*len).unwrap_or(&[]),
            Data::Received(d) => d.bytes(),
            Data::Blob(m) => m.as_slice().unwrap_or(&[]),
        }
    }

    /// Overwrites bytes already written at `at` (a length patched in after
    /// its section), where they are; a range not yet written is left alone.
    pub(crate) fn patch_at(&mut self, at: usize, bytes: &[u8]) {
        let Some(end) = at
            .checked_add(bytes.len())
            .filter(|&e| e <= self.bytes().len())
        else {
            return;
        };
        match &mut self.data {
            Data::InPlace { lease, .. } => {
                let _ = lease.write_at(at, bytes);
            }
            _ => self.owned()[at..end].copy_from_slice(bytes),
        }
    }

    /// The next `n` bytes of an in-place parcel's send area, counted as
    /// written; `None` for an ordinary parcel or when they do not fit.
    fn in_place_tail(&mut self, n: usize) -> Option<&mut [u8]> {
        let Data::InPlace { lease, len } = &mut self.data else {
            return None;
        };
        let end = len.checked_add(n).filter(|&e| e <= lease.len())?;
        let dst = lease.slice_mut(*len, n).ok()?;
        *len = end;
        Some(dst)
    }

    /// Appends raw bytes: in place while they fit the send area, else into
    /// an owned buffer (the parcel becomes an ordinary one).
    fn append(&mut self, b: &[u8]) {
        match self.in_place_tail(b.len()) {
            Some(dst) => dst.copy_from_slice(b),
            None => self.owned().extend_from_slice(b),
        }
    }

    fn owned(&mut self) -> &mut Vec<u8> {
        if !matches!(self.data, Data::Owned(_)) {
            let copy = self.bytes().to_vec();
            self.data = Data::Owned(copy);
        }
        match &mut self.data {
            Data::Owned(v) => v,
            _ => unreachable!("converted above"),
        }
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.bytes().len().saturating_sub(self.pos)
    }

    /// Number of objects in the side table.
    pub fn object_count(&self) -> usize {
        self.slots.len()
    }

    /// Appends one serde value.
    pub fn write<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        let unencodable =
            |e| Status::from_code(StatusCode::BadValue, format!("value does not encode: {e}"));
        if let Data::InPlace { .. } = self.data {
            // Small values (lengths, codes, status bytes) encode on the
            // stack; only a large one needs a buffer before the area.
            let mut small = [0u8; 256];
            match postcard::to_slice(v, &mut small).map(|used| used.len()) {
                Ok(n) => self.append(&small[..n]),
                Err(postcard::Error::SerializeBufferFull) => {
                    self.append(&postcard::to_stdvec(v).map_err(unencodable)?)
                }
                Err(e) => return Err(unencodable(e)),
            }
            return Ok(());
        }
        let buf = std::mem::take(self.owned());
        let buf = postcard::to_extend(v, buf).map_err(unencodable)?;
        *self.owned() = buf;
        Ok(())
    }

    /// Reads the next serde value.
    pub fn read<T: DeserializeOwned>(&mut self) -> Result<T> {
        let rest = self.bytes().get(self.pos..).unwrap_or(&[]);
        let before = rest.len();
        let (v, after) = postcard::take_from_bytes::<T>(rest).map_err(|e| {
            bad(format!(
                "reading a {} at byte {}: {e}",
                std::any::type_name::<T>(),
                self.pos
            ))
        })?;
        self.pos += before - after.len();
        Ok(v)
    }

    /// Appends a byte array (a length, then the bytes).
    pub fn write_bytes(&mut self, b: &[u8]) -> Result<()> {
        self.write(&(b.len() as u64))?;
        self.append(b);
        Ok(())
    }

    /// Appends a byte array of `len` bytes that `fill` writes in place:
    /// in an [`in_send_area`](Self::in_send_area) parcel straight into the
    /// send area, so a payload produced there is never copied before the
    /// mediator's copy. Read it back with [`read_bytes`](Self::read_bytes).
    pub fn write_bytes_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<()> {
        self.write(&(len as u64))?;
        if let Some(dst) = self.in_place_tail(len) {
            fill(dst);
            return Ok(());
        }
        let v = self.owned();
        let start = v.len();
        v.resize(start + len, 0);
        fill(&mut v[start..]);
        Ok(())
    }

    /// Reads a byte array without copying it: the slice borrows the parcel
    /// (and, for a large payload, the sealed blob it arrived in).
    pub fn read_bytes(&mut self) -> Result<&[u8]> {
        let len: u64 = self.read()?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.bytes().len())
            .ok_or_else(|| {
                bad(format!(
                    "a byte array of {len} bytes at byte {start} runs past the parcel's end ({} bytes)",
                    self.bytes().len()
                ))
            })?;
        self.pos = end;
        Ok(&self.bytes()[start..end])
    }

    fn push_slot(&mut self, s: Slot) -> Result<()> {
        let i = u32::try_from(self.slots.len())
            .map_err(|_| Status::from_code(StatusCode::BadValue, "too many objects"))?;
        self.slots.push(s);
        self.write(&i)
    }

    /// Appends a binder (a local object or a proxy).
    pub fn write_binder(&mut self, b: &SpIBinder) -> Result<()> {
        self.write(&true)?;
        self.push_slot(Slot::Binder(b.clone(), Rights::ALL))
    }

    /// Appends a binder that the receiver may use only as `rights` allow
    /// (narrowed from what this process holds; a local object is always
    /// sent whole). A topic handle passed with `Rights::SUBSCRIBE` is a
    /// subscribe-only capability, for instance.
    pub fn write_binder_with_rights(&mut self, b: &SpIBinder, rights: Rights) -> Result<()> {
        self.write(&true)?;
        self.push_slot(Slot::Binder(b.clone(), rights))
    }

    /// Appends a binder or null.
    pub fn write_nullable_binder(&mut self, b: Option<&SpIBinder>) -> Result<()> {
        match b {
            Some(b) => self.write_binder(b),
            None => self.write(&false),
        }
    }

    fn read_index(&mut self) -> Result<usize> {
        let i: u32 = self.read()?;
        let i = i as usize;
        if i >= self.slots.len() {
            return Err(bad(format!(
                "object index {i} but the parcel carries {} objects",
                self.slots.len()
            )));
        }
        Ok(i)
    }

    /// Reads a non-null binder.
    pub fn read_binder(&mut self) -> Result<SpIBinder> {
        self.read_nullable_binder()?.ok_or_else(|| {
            Status::from_code(
                StatusCode::UnexpectedNull,
                "a binder was required, got null",
            )
        })
    }

    /// Reads a binder or null.
    pub fn read_nullable_binder(&mut self) -> Result<Option<SpIBinder>> {
        if !self.read::<bool>()? {
            return Ok(None);
        }
        let i = self.read_index()?;
        match &self.slots[i] {
            Slot::Binder(b, _) => Ok(Some(b.clone())),
            Slot::Fd(_) => Err(bad(format!(
                "object {i} is a file descriptor, not a binder"
            ))),
        }
    }

    /// Appends a file descriptor (it travels with `SCM_RIGHTS`).
    pub fn write_fd(&mut self, fd: OwnedFd) -> Result<()> {
        self.push_slot(Slot::Fd(Some(fd)))
    }

    /// Reads (takes) a file descriptor.
    pub fn read_fd(&mut self) -> Result<OwnedFd> {
        let i = self.read_index()?;
        match &mut self.slots[i] {
            Slot::Fd(fd) => fd
                .take()
                .ok_or_else(|| bad(format!("file descriptor {i} was already read"))),
            Slot::Binder(..) => Err(bad(format!(
                "object {i} is a binder, not a file descriptor"
            ))),
        }
    }

    /// Rewinds the read cursor to the start.
    pub fn rewind(&mut self) {
        self.pos = 0;
    }

    /// The bytes to send, left in the send area where they already are.
    pub(crate) fn take_outgoing(self) -> (Outgoing, Vec<Slot>) {
        let Parcel { data, slots, .. } = self;
        let out = match data {
            Data::InPlace { lease, len } => Outgoing::InPlace(lease, len),
            other => Outgoing::Bytes(other.into_vec()),
        };
        (out, slots)
    }

    pub(crate) fn take_parts(self) -> (Vec<u8>, Vec<Slot>) {
        let Parcel { data, slots, .. } = self;
        (data.into_vec(), slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_order() {
        let mut p = Parcel::new();
        p.write(&42u32).unwrap();
        p.write("hello").unwrap();
        p.write_bytes(&[1, 2, 3]).unwrap();
        p.write(&vec![1.5f64, 2.5]).unwrap();
        assert_eq!(p.read::<u32>().unwrap(), 42);
        assert_eq!(p.read::<String>().unwrap(), "hello");
        assert_eq!(p.read_bytes().unwrap(), &[1, 2, 3]);
        assert_eq!(p.read::<Vec<f64>>().unwrap(), vec![1.5, 2.5]);
        assert_eq!(p.remaining(), 0);
    }

    #[test]
    fn reading_past_the_end_is_bad_parcelable_not_a_panic() {
        let mut p = Parcel::new();
        p.write(&1u8).unwrap();
        p.read::<u8>().unwrap();
        let e = p.read::<u64>().unwrap_err();
        assert_eq!(e.exception, ExceptionCode::BadParcelable);
        let mut p = Parcel::new();
        p.write(&u64::MAX).unwrap();
        p.rewind();
        let e = p.read_bytes().unwrap_err();
        assert!(e.message.contains("runs past"), "{e}");
    }

    #[test]
    fn an_object_index_must_exist_and_have_the_right_kind() {
        let mut p = Parcel::new();
        p.write(&true).unwrap();
        p.write(&7u32).unwrap();
        let e = p.read_binder().unwrap_err();
        assert!(e.message.contains("object index 7"), "{e}");
        let mut p = Parcel::new();
        p.write(&0u32).unwrap();
        assert!(p.read_fd().is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut bytes = Vec::new();
            for _ in 0..(seed % 40) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                bytes.push((seed >> 33) as u8);
            }
            let mut p = Parcel::from_parts(bytes, Vec::new());
            let _ = p.read::<String>();
            let _ = p.read_bytes();
            let _ = p.read_nullable_binder();
            let _ = p.read::<Vec<Option<u64>>>();
            let _ = p.read_fd();
        }
    }
}
