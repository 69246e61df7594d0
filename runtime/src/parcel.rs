//! `Parcel`: the data of one call or reply. Values are postcard-encoded one
//! after another; objects (binders, file descriptors) live in a side table
//! and the data names them by index, never by raw handle. Reading never
//! trusts the bytes: a short, garbled or mistyped parcel is a
//! `BadParcelable` status, and an object index that is out of range, of the
//! wrong kind or already taken is an error too.

use std::borrow::Cow;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use capbinder_kmod_shim::sys::memfd::{Mapping, SendLease};
use serde::de::DeserializeOwned;
use serde::Serialize;

use capbinder_core::{DataRange, Rights, MAX_SPLICES};

use crate::binder::{SpIBinder, WeakBinder};
use crate::process::ProcessState;
use crate::status::{ExceptionCode, Result, Status, StatusCode};

/// One entry of a parcel's side table.
#[derive(Debug)]
pub(crate) enum Slot {
    /// A binder (local or remote), with the rights it is passed on with.
    Binder(SpIBinder, Rights),
    /// A weak reference, with the rights it is passed on with. The
    /// reference keeps the object (or its handle, which may be counted
    /// only weakly) while the parcel lives; it never leaves the parcel as
    /// a strong reference.
    Weak(SpIBinder, Rights),
    /// A file descriptor, until it is read (taken).
    Fd(Option<OwnedFd>),
}

/// Where a parcel's bytes live: owned, written straight into this thread's
/// send area, a delivered range of the receive buffer read in place, or a
/// sealed blob mapped read-only. Received payloads are never copied out; a
/// write to a received parcel copies it first.
enum Data {
    Owned(Vec<u8>),
    InPlace(InPlace),
    Received(Received),
    Blob(Mapping),
}

/// A delivered range held by the parcel that reads it: its own until a
/// splice ([`Parcel::forward_bytes`]) must keep it allocated past the
/// parcel, and shared from then on, so a call that splices nothing
/// allocates nothing for it.
enum Received {
    Own(Delivered),
    Shared(Arc<Delivered>),
}

impl Received {
    fn bytes(&self) -> &[u8] {
        match self {
            Received::Own(d) => d.bytes(),
            Received::Shared(d) => d.bytes(),
        }
    }
}

/// A parcel written in its thread's send area: `len` bytes from the start,
/// except under its splices, which are still in the receive buffer.
pub(crate) struct InPlace {
    pub(crate) lease: SendLease,
    pub(crate) len: usize,
    pub(crate) splices: Vec<PendingSplice>,
}

/// Bytes of an in-place parcel that the mediator copies from a range
/// delivered to this process instead of from the send area (see
/// [`Parcel::forward_bytes`]); the send area under them is not written.
pub(crate) struct PendingSplice {
    /// Where they go in the parcel.
    pub(crate) at: usize,
    /// The range they come from, kept allocated until the send.
    pub(crate) from: Arc<Delivered>,
    /// Where they start in that range.
    pub(crate) offset: usize,
    /// How many.
    pub(crate) len: usize,
}

impl InPlace {
    /// The bytes as written, holes under the splices included.
    fn raw(&self) -> &[u8] {
        self.lease.bytes(self.len).unwrap_or(&[])
    }

    /// Counts the next `n` bytes of the area as the parcel's; their start,
    /// or `None` when they do not fit.
    fn grow(&mut self, n: usize) -> Option<usize> {
        let at = self.len;
        self.len = at.checked_add(n).filter(|&e| e <= self.lease.len())?;
        Some(at)
    }

    /// Writes the spliced bytes into the send area after all: the parcel is
    /// being read, changed or copied instead of sent as it is.
    fn settle(&mut self) {
        for s in std::mem::take(&mut self.splices) {
            if let Some(src) = s.source() {
                let _ = self.lease.write_at(s.at, src);
            }
        }
    }

    /// A copy of the bytes, splices filled in; the area is left as it is.
    pub(crate) fn filled(&self) -> Vec<u8> {
        let mut v = self.raw().to_vec();
        for s in &self.splices {
            if let (Some(dst), Some(src)) = (v.get_mut(s.at..s.at + s.len), s.source()) {
                dst.copy_from_slice(src);
            }
        }
        v
    }
}

impl PendingSplice {
    /// The bytes it stands for, in the receive buffer.
    fn source(&self) -> Option<&[u8]> {
        self.from.bytes().get(self.offset..self.offset + self.len)
    }
}

impl Data {
    /// A received range, shared from here on (see [`Received`]); `None`
    /// for bytes that are not a received range.
    fn share_received(&mut self) -> Option<Arc<Delivered>> {
        // Moved out and back, never dropped: dropping a `Delivered` frees
        // its range.
        let shared = match std::mem::replace(self, Data::Owned(Vec::new())) {
            Data::Received(Received::Own(d)) => Arc::new(d),
            Data::Received(Received::Shared(d)) => d,
            other => {
                *self = other;
                return None;
            }
        };
        *self = Data::Received(Received::Shared(shared.clone()));
        Some(shared)
    }

    /// The bytes as an owned buffer (a copy unless they are owned already).
    fn into_vec(self) -> Vec<u8> {
        match self {
            Data::Owned(v) => v,
            Data::InPlace(p) => p.filled(),
            Data::Received(d) => d.bytes().to_vec(),
            Data::Blob(m) => m.as_slice().unwrap_or(&[]).to_vec(),
        }
    }

    /// The bytes where they are; under a pending splice, not yet the
    /// spliced ones (settle first).
    fn raw(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::InPlace(p) => p.raw(),
            Data::Received(d) => d.bytes(),
            Data::Blob(m) => m.as_slice().unwrap_or(&[]),
        }
    }
}

/// This thread's send area, for a parcel written in place; `None` while
/// another parcel holds it or where the process has no connection.
fn this_threads_send_area() -> Option<SendLease> {
    ProcessState::current()
        .ok()
        .and_then(crate::thread::lease_send_area)
}

/// A parcel's bytes on their way out.
pub(crate) enum Outgoing {
    /// In a buffer, to be copied into the send area (or a blob).
    Bytes(Vec<u8>),
    /// Already at the start of a send area, but for its splices.
    InPlace(InPlace),
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

    /// Where the mediator delivered it.
    pub(crate) fn range(&self) -> DataRange {
        self.range
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

/// Byte arrays at least this long are spliced by
/// [`Parcel::forward_bytes`]; shorter ones are cheaper to copy than to
/// describe.
pub const SPLICE_MIN: usize = 4096;

/// The data of one call or reply.
pub struct Parcel {
    data: Data,
    pos: usize,
    pub(crate) slots: Vec<Slot>,
    /// Marked with [`mark_sensitive`](Self::mark_sensitive).
    sensitive: bool,
    /// Parcelables being read inside one another now
    /// ([`read_section`](crate::parcelable::read_section)).
    pub(crate) depth: u16,
}

/// A sensitive parcel's own copy of its bytes is zeroed when it goes (the
/// bytes it reads in place are zeroed by the mediator when their range is
/// freed).
impl Drop for Parcel {
    fn drop(&mut self) {
        if self.sensitive {
            if let Data::Owned(v) = &mut self.data {
                zeroize::Zeroize::zeroize(v);
            }
        }
    }
}

impl std::fmt::Debug for Parcel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parcel")
            .field("len", &self.len())
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

/// Room a reply starts with: its status byte and a small result.
const REPLY_CAPACITY: usize = 64;

/// The largest buffer a thread keeps for its next reply ([`reuse_buffer`]).
const KEEP_CAPACITY: usize = 4096;

thread_local! {
    /// The buffer of the last parcel this thread sent from its own bytes,
    /// emptied, for its next reply: a served call allocates none.
    static SPARE_BYTES: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Takes a sent parcel's buffer back for the next reply, zeroed first if
/// its parcel was `sensitive` (as its drop would have); one larger than
/// [`KEEP_CAPACITY`] is freed, so an idle thread holds little.
pub(crate) fn reuse_buffer(mut v: Vec<u8>, sensitive: bool) {
    if sensitive {
        zeroize::Zeroize::zeroize(&mut v);
    }
    if v.capacity() == 0 || v.capacity() > KEEP_CAPACITY {
        return;
    }
    v.clear();
    let _ = SPARE_BYTES.try_with(|c| c.set(v));
}

impl Parcel {
    /// An empty parcel to write into.
    pub fn new() -> Parcel {
        Parcel {
            data: Data::Owned(Vec::new()),
            pos: 0,
            slots: Vec::new(),
            sensitive: false,
            depth: 0,
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
                data: Data::InPlace(InPlace {
                    lease,
                    len: 0,
                    splices: Vec::new(),
                }),
                pos: 0,
                slots: Vec::new(),
                sensitive: false,
                depth: 0,
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
            let old = std::mem::replace(
                &mut self.data,
                Data::InPlace(InPlace {
                    lease,
                    len,
                    splices: Vec::new(),
                }),
            );
            if let Data::Owned(v) = old {
                reuse_buffer(v, self.sensitive);
            }
        }
    }

    /// Whether this parcel is being written in a send area (see
    /// [`in_send_area`](Self::in_send_area)).
    pub fn is_in_send_area(&self) -> bool {
        matches!(self.data, Data::InPlace(_))
    }

    pub(crate) fn from_parts(data: Vec<u8>, slots: Vec<Slot>) -> Parcel {
        Parcel {
            data: Data::Owned(data),
            pos: 0,
            slots,
            sensitive: false,
            depth: 0,
        }
    }

    pub(crate) fn from_delivered(d: Delivered, slots: Vec<Slot>) -> Parcel {
        Parcel {
            data: Data::Received(Received::Own(d)),
            pos: 0,
            slots,
            sensitive: false,
            depth: 0,
        }
    }

    pub(crate) fn from_blob(map: Mapping, slots: Vec<Slot>) -> Parcel {
        Parcel {
            data: Data::Blob(map),
            pos: 0,
            slots,
            sensitive: false,
            depth: 0,
        }
    }

    /// All the bytes: where they are, or, for a parcel forwarding bytes it
    /// has not sent yet ([`forward_bytes`](Self::forward_bytes)), a copy
    /// with them filled in.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.data {
            Data::InPlace(p) if !p.splices.is_empty() => Cow::Owned(p.filled()),
            d => Cow::Borrowed(d.raw()),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::InPlace(p) => p.len,
            d => d.raw().len(),
        }
    }

    /// Whether the parcel holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes where they are, after filling in any pending splices.
    fn settled(&mut self) -> &[u8] {
        if let Data::InPlace(p) = &mut self.data {
            p.settle();
        }
        self.data.raw()
    }

    /// Overwrites bytes already written at `at` (a length patched in after
    /// its section), where they are; a range not yet written is left alone.
    pub(crate) fn patch_at(&mut self, at: usize, bytes: &[u8]) {
        let Some(end) = at.checked_add(bytes.len()).filter(|&e| e <= self.len()) else {
            return;
        };
        match &mut self.data {
            // Patches go before a section, never under a splice.
            Data::InPlace(p) => {
                let _ = p.lease.write_at(at, bytes);
            }
            _ => self.owned()[at..end].copy_from_slice(bytes),
        }
    }

    /// The next `n` bytes of an in-place parcel's send area, counted as
    /// written; `None` for an ordinary parcel or when they do not fit.
    fn in_place_tail(&mut self, n: usize) -> Option<&mut [u8]> {
        let Data::InPlace(p) = &mut self.data else {
            return None;
        };
        let at = p.grow(n)?;
        p.lease.slice_mut(at, n).ok()
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
            let copy = self.settled().to_vec();
            self.data = Data::Owned(copy);
        }
        match &mut self.data {
            Data::Owned(v) => v,
            _ => unreachable!("converted above"),
        }
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.len().saturating_sub(self.pos)
    }

    /// Number of objects in the side table.
    pub fn object_count(&self) -> usize {
        self.slots.len()
    }

    /// Appends one serde value.
    pub fn write<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        let unencodable =
            |e| Status::from_code(StatusCode::BadValue, format!("value does not encode: {e}"));
        if let Data::InPlace(p) = &mut self.data {
            // Encoded straight into the area past the end, with no buffer
            // in between; bytes past `len` are not the parcel's, so a value
            // that does not fit leaves nothing behind. It then goes through
            // a buffer, and the parcel becomes an ordinary one.
            let room = p.lease.len().saturating_sub(p.len);
            if let Ok(tail) = p.lease.slice_mut(p.len, room) {
                match postcard::to_slice(v, tail).map(|used| used.len()) {
                    Ok(n) => {
                        p.len += n;
                        return Ok(());
                    }
                    Err(postcard::Error::SerializeBufferFull) => {}
                    Err(e) => return Err(unencodable(e)),
                }
            }
            self.append(&postcard::to_stdvec(v).map_err(unencodable)?);
            return Ok(());
        }
        let buf = std::mem::take(self.owned());
        let buf = postcard::to_extend(v, buf).map_err(unencodable)?;
        *self.owned() = buf;
        Ok(())
    }

    /// A reply with its status byte `code` written (0: a result follows;
    /// 1: a `Status`), the byte `write(&code)` writes; with room for a
    /// small result, so that writing one does not grow the buffer byte by
    /// byte.
    pub(crate) fn reply_with_status(code: u8) -> Parcel {
        let mut v = SPARE_BYTES.try_with(|c| c.take()).unwrap_or_default();
        v.reserve(REPLY_CAPACITY);
        v.push(code);
        Parcel::from_parts(v, Vec::new())
    }

    /// Reads a reply's status byte, as `read::<u8>()` would.
    pub(crate) fn read_status_byte(&mut self) -> Result<u8> {
        let pos = self.pos;
        let b = *self.settled().get(pos).ok_or_else(|| {
            bad(format!(
                "reading a reply's status byte at byte {pos}: the parcel ends there"
            ))
        })?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads the next serde value.
    pub fn read<T: DeserializeOwned>(&mut self) -> Result<T> {
        let pos = self.pos;
        let rest = self.settled().get(pos..).unwrap_or(&[]);
        let before = rest.len();
        let (v, after) = postcard::take_from_bytes::<T>(rest).map_err(|e| {
            bad(format!(
                "reading a {} at byte {pos}: {e}",
                std::any::type_name::<T>(),
            ))
        })?;
        self.pos += before - after.len();
        Ok(v)
    }

    /// Appends a byte array (a length, then the bytes).
    pub fn write_bytes(&mut self, b: &[u8]) -> Result<()> {
        self.write_len(b.len());
        self.append(b);
        Ok(())
    }

    /// Appends a byte array's length: the bytes `write(&(len as u64))`
    /// writes (postcard's varint), written by hand. Every byte array of
    /// every call has one, and serde's generic path for it, with its
    /// error plumbing, was a tenth of an echo service's instructions per
    /// call outside the device.
    fn write_len(&mut self, len: usize) {
        let (buf, n) = capbinder_core::fastwire::u64_varint(len as u64);
        self.append(&buf[..n]);
    }

    /// Reads a byte array's length, as `read::<u64>()` would.
    fn read_len(&mut self) -> Result<u64> {
        let pos = self.pos;
        let rest = self.settled().get(pos..).unwrap_or(&[]);
        let before = rest.len();
        let (v, after) = capbinder_core::fastwire::read_u64(rest).ok_or_else(|| {
            bad(format!(
                "reading a byte array's length at byte {pos}: {}",
                if before == 0 {
                    "the parcel ends there"
                } else {
                    "a cut-off or overlong varint"
                }
            ))
        })?;
        self.pos += before - after.len();
        Ok(v)
    }

    /// Appends a byte array of `len` bytes that `fill` writes in place:
    /// in an [`in_send_area`](Self::in_send_area) parcel straight into the
    /// send area, so a payload produced there is never copied before the
    /// mediator's copy. Read it back with [`read_bytes`](Self::read_bytes).
    pub fn write_bytes_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<()> {
        self.write_len(len);
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
        let len = self.read_len()?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.len())
            .ok_or_else(|| {
                bad(format!(
                    "a byte array of {len} bytes at byte {start} runs past the parcel's end ({} bytes)",
                    self.len()
                ))
            })?;
        self.pos = end;
        Ok(&self.data.raw()[start..end])
    }

    /// Reads the next byte array of `from` and appends it here, as
    /// `write_bytes(from.read_bytes()?)` would, but without copying it
    /// where it can: when this parcel is written in a send area
    /// ([`in_send_area`](Self::in_send_area),
    /// [`move_to_send_area`](Self::move_to_send_area)) and `from` is a
    /// received parcel read in place, the bytes stay in the receive buffer
    /// and the mediator copies them from there when this parcel is sent
    /// (a splice): one copy from the first sender to the next receiver, for
    /// an echo, a proxy or a pipeline stage passing data on. `from`'s range
    /// of the receive buffer stays allocated until this parcel is sent or
    /// dropped. Arrays under [`SPLICE_MIN`] bytes are copied.
    pub fn forward_bytes(&mut self, from: &mut Parcel) -> Result<()> {
        let len = from.read_bytes()?.len();
        let offset = from.pos - len;
        self.write_len(len);
        if let (Data::Received(_), Data::InPlace(p)) = (&from.data, &mut self.data) {
            if len >= SPLICE_MIN && p.splices.len() < MAX_SPLICES {
                if let Some(at) = p.grow(len) {
                    let from = from.data.share_received().expect("a received parcel");
                    p.splices.push(PendingSplice {
                        at,
                        from,
                        offset,
                        len,
                    });
                    return Ok(());
                }
            }
        }
        self.append(&from.data.raw()[offset..offset + len]);
        Ok(())
    }

    fn push_slot(&mut self, s: Slot) -> Result<()> {
        let i = u32::try_from(self.slots.len())
            .map_err(|_| Status::from_code(StatusCode::BadValue, "too many objects"))?;
        // As libbinder's flattenBinder: a local object in a parcel has its
        // node settings fixed, sent or not.
        if let Slot::Binder(b, _) | Slot::Weak(b, _) = &s {
            if let Some(l) = b.local_object() {
                l.mark_parceled();
            }
        }
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

    /// Appends a weak reference (libbinder's `writeWeakBinder`), or null
    /// when the object is no longer reachable from here (a local object
    /// dropped, a remote one whose last proxy here is gone). The receiver
    /// reads it with [`read_weak_binder`](Self::read_weak_binder) and holds
    /// the object only weakly: it does not keep the object alive, and
    /// [`WeakBinder::upgrade`] there asks the mediator for a strong
    /// reference, which it gives while some process holds one.
    pub fn write_weak_binder(&mut self, b: &WeakBinder) -> Result<()> {
        match b.reachable() {
            Some(b) => {
                self.write(&true)?;
                self.push_slot(Slot::Weak(b, Rights::ALL))
            }
            None => self.write(&false),
        }
    }

    /// Reads a weak reference or null (see
    /// [`write_weak_binder`](Self::write_weak_binder)). A strong binder is
    /// not read as weak: read it with [`read_binder`](Self::read_binder).
    pub fn read_weak_binder(&mut self) -> Result<Option<WeakBinder>> {
        if !self.read::<bool>()? {
            return Ok(None);
        }
        let i = self.read_index()?;
        match &self.slots[i] {
            Slot::Weak(b, _) => Ok(Some(b.clone().into_weak())),
            Slot::Binder(..) => Err(bad(format!(
                "object {i} is a strong binder, not a weak reference"
            ))),
            Slot::Fd(_) => Err(bad(format!(
                "object {i} is a file descriptor, not a weak reference"
            ))),
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

    /// Reads a binder and the rights it came with (what the sender passed
    /// on, narrowed as it was sent; all of them for an object of this
    /// process's own).
    pub fn read_binder_with_rights(&mut self) -> Result<(SpIBinder, Rights)> {
        if !self.read::<bool>()? {
            return Err(Status::from_code(
                StatusCode::UnexpectedNull,
                "a binder was required, got null",
            ));
        }
        let i = self.read_index()?;
        match &self.slots[i] {
            Slot::Binder(b, rights) => Ok((b.clone(), *rights)),
            Slot::Weak(..) => Err(bad(format!(
                "object {i} is a weak reference: read it with read_weak_binder"
            ))),
            Slot::Fd(_) => Err(bad(format!(
                "object {i} is a file descriptor, not a binder"
            ))),
        }
    }

    /// Reads a binder or null.
    pub fn read_nullable_binder(&mut self) -> Result<Option<SpIBinder>> {
        if !self.read::<bool>()? {
            return Ok(None);
        }
        let i = self.read_index()?;
        match &self.slots[i] {
            Slot::Binder(b, _) => Ok(Some(b.clone())),
            Slot::Weak(..) => Err(bad(format!(
                "object {i} is a weak reference: read it with read_weak_binder"
            ))),
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
                .ok_or_else(|| {
                    bad(format!(
                        "file descriptor {i} was already read, or did not arrive (the receiver was out of fds)"
                    ))
                }),
            Slot::Binder(..) | Slot::Weak(..) => Err(bad(format!(
                "object {i} is a binder, not a file descriptor"
            ))),
        }
    }

    /// Rewinds the read cursor to the start.
    pub fn rewind(&mut self) {
        self.pos = 0;
    }

    /// The bytes to send, left in the send area where they already are.
    pub(crate) fn take_outgoing(mut self) -> (Outgoing, Vec<Slot>) {
        let (data, slots) = self.take_data();
        let out = match data {
            Data::InPlace(p) => Outgoing::InPlace(p),
            other => Outgoing::Bytes(other.into_vec()),
        };
        (out, slots)
    }

    /// Gives an ordinary parcel's buffer back for the thread's next reply
    /// (see [`reuse_buffer`]), once its bytes are sent by other means than
    /// the send area; any other parcel is just dropped.
    pub(crate) fn recycle(mut self) {
        if let (Data::Owned(v), _) = self.take_data() {
            reuse_buffer(v, self.sensitive);
        }
    }

    pub(crate) fn take_parts(mut self) -> (Vec<u8>, Vec<Slot>) {
        let (data, slots) = self.take_data();
        (data.into_vec(), slots)
    }

    /// Its bytes and objects, leaving it empty (so that its drop has
    /// nothing to zero: who takes them owns them).
    fn take_data(&mut self) -> (Data, Vec<Slot>) {
        (
            std::mem::replace(&mut self.data, Data::Owned(Vec::new())),
            std::mem::take(&mut self.slots),
        )
    }

    /// Marks the parcel's contents sensitive (libbinder's
    /// `Parcel::markSensitive`, binder's `TF_CLEAR_BUF`): sent, the
    /// mediator zeroes its range of the receiver's buffer when the receiver
    /// frees it, and a call's reply is marked too; this parcel zeroes its
    /// own copy of the bytes when dropped. A received parcel is sensitive
    /// when its sender marked it so.
    pub fn mark_sensitive(&mut self) {
        self.sensitive = true;
    }

    /// Whether [`mark_sensitive`](Self::mark_sensitive) was called, or the
    /// sender marked it.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned_capacity(p: &Parcel) -> usize {
        match &p.data {
            Data::Owned(v) => v.capacity(),
            _ => panic!("a reply starts as an owned buffer"),
        }
    }

    #[test]
    fn a_sent_buffer_becomes_the_next_reply_holding_only_its_status_byte() {
        for sensitive in [false, true] {
            let mut v = Vec::with_capacity(200);
            v.extend_from_slice(b"the last reply's bytes");
            let at = v.as_ptr();
            reuse_buffer(v, sensitive);
            let p = Parcel::reply_with_status(1);
            assert_eq!(p.bytes().as_ptr(), at, "sensitive: {sensitive}");
            assert_eq!(&*p.bytes(), &[1]);
            // Taken: the next reply gets a buffer of its own.
            assert_ne!(Parcel::reply_with_status(0).bytes().as_ptr(), at);
        }
    }

    #[test]
    fn a_large_sent_buffer_is_not_kept() {
        reuse_buffer(Vec::with_capacity(KEEP_CAPACITY + 1), false);
        let p = Parcel::reply_with_status(0);
        assert!(owned_capacity(&p) <= KEEP_CAPACITY);
        assert_eq!(&*p.bytes(), &[0]);
    }

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

    /// The hand-written lengths of byte arrays are postcard's `u64`s:
    /// what `write_bytes` writes reads back with `read::<u64>`, what
    /// `write(&(len as u64))` writes reads back with `read_bytes`, at every
    /// varint length, and a cut-off or overlong length is an error where
    /// postcard's is.
    #[test]
    fn byte_array_lengths_are_postcard_u64s() {
        let lens = [0usize, 1, 127, 128, 300, 16_383, 16_384, 2_097_152];
        for len in lens {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut mine = Parcel::new();
            mine.write_bytes(&data).unwrap();
            let mut theirs = Parcel::new();
            theirs.write(&(len as u64)).unwrap();
            theirs.append(&data);
            assert_eq!(mine.bytes(), theirs.bytes(), "length {len}");
            assert_eq!(mine.read::<u64>().unwrap(), len as u64);
            assert_eq!(theirs.read_bytes().unwrap(), &data[..]);
        }
        for v in [u64::MAX, 1 << 35, 1 << 63] {
            let mut p = Parcel::new();
            p.write_len(v as usize);
            assert_eq!(p.bytes(), postcard::to_stdvec(&v).unwrap(), "{v:#x}");
        }
        // Cut off inside the varint, and an eleventh byte: postcard fails
        // on both, and so does the hand-written reader.
        for bad in [&[0x80u8][..], &[0xff; 11][..], &[][..]] {
            let mut p = Parcel::from_parts(bad.to_vec(), Vec::new());
            assert!(p.read::<u64>().is_err(), "{bad:?}");
            p.rewind();
            let e = p.read_bytes().unwrap_err();
            assert_eq!(e.exception, ExceptionCode::BadParcelable, "{bad:?}");
            assert!(e.message.contains("length at byte 0"), "{e}");
        }
        let mut p = Parcel::reply_with_status(1);
        assert_eq!(p.bytes(), postcard::to_stdvec(&1u8).unwrap());
        assert_eq!(p.read_status_byte().unwrap(), 1);
        assert!(p.read_status_byte().is_err());
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

    struct Nop;
    impl crate::Binder for Nop {
        fn descriptor(&self) -> &str {
            "Nop"
        }
        fn on_transact(&self, _: u32, _: &mut Parcel, _: &mut Parcel) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_weak_binder_round_trips_as_weak_and_only_as_weak() {
        let strong = crate::new_binder(Nop);
        let mut p = Parcel::new();
        p.write_weak_binder(&strong.downgrade()).unwrap();
        p.write_binder(&strong).unwrap();
        p.rewind();
        let weak = p.read_weak_binder().unwrap().expect("not null");
        assert_eq!(weak.upgrade(), Some(strong.clone()));
        let e = p.read_weak_binder().unwrap_err();
        assert!(e.message.contains("strong binder"), "{e}");
        p.rewind();
        let e = p.read_binder().unwrap_err();
        assert!(e.message.contains("read_weak_binder"), "{e}");
    }

    #[test]
    fn a_weak_binder_to_an_object_gone_is_written_as_null() {
        let strong = crate::new_binder(Nop);
        let weak = strong.downgrade();
        drop(strong);
        let mut p = Parcel::new();
        p.write_weak_binder(&weak).unwrap();
        assert_eq!(p.object_count(), 0);
        p.rewind();
        assert!(p.read_weak_binder().unwrap().is_none());
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
            let _ = p.read_weak_binder();
            let _ = p.read::<Vec<Option<u64>>>();
            let _ = p.read_fd();
        }
    }
}
