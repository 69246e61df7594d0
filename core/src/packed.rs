//! The encoding of the two structs every call and reply carries,
//! [`TxnOut`] (written) and [`TxnIn`] (read): their fixed-size fields as
//! one fixed-layout byte string (the *head*), then the variable parts
//! (objects, splices, the sender's label) as serde encodes them.
//!
//! Why not derived: with postcard, a derived `TxnIn` costs a varint, a
//! function call and a bounds check per field, about 900 instructions
//! (callgrind) for some twenty integers; each round trip encodes and
//! decodes one of these structs eight times across the three processes.
//! The head is written with plain stores and read with one length check.
//!
//! On the wire: a tuple of the head as serde bytes (postcard: a varint
//! length, then the bytes), then each variable part that is there, one
//! element each: the head holds their counts, so an empty list costs
//! nothing (an empty `Vec` as a serde element was a quarter of encoding
//! and decoding one of these). Integers in a head are little-endian; an
//! option is a tag byte (0 absent, 1 present) followed by the value's
//! bytes, zero when absent. `docs/protocol.md` lists the layouts.
//!
//! The tuple's length follows from its head, so it is read with
//! [`deserialize_tuple`](serde::Deserializer::deserialize_tuple) given
//! the most elements it may have: postcard, the one format these travel
//! in, reads elements while asked.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::protocol::{DataRange, Priority, SchedPolicy, Sender, TxnFlags, TxnId, TxnIn, TxnOut};

/// `TxnOut`'s head: code, flags, data offset, data length, work source,
/// and how many objects and splices follow.
pub(crate) const OUT_HEAD: usize = 4 + 4 + 8 + 8 + (1 + 4) + 4 + 4;

/// `TxnIn`'s head: id, target, code, flags, sender (pid, tid, uid, euid,
/// priority, work source), buffer, seq, lost, and whether a label and how
/// many objects follow.
pub(crate) const IN_HEAD: usize =
    8 + (1 + 16) + 4 + 4 + (4 + 4 + 4 + 4) + (1 + 3) + (1 + 4) + 16 + (1 + 8) + 8 + 1 + 4;

/// The most elements a head-and-parts tuple is read with (see the module
/// docs): the head says how many there are.
const ELEMENTS_MAX: usize = usize::MAX;

/// Elements reserved ahead for a list whose length a peer wrote: past
/// this, the list grows as elements actually arrive.
const RESERVE_MAX: usize = 16;

/// Writes a head front to back.
struct Writer<const N: usize> {
    buf: [u8; N],
    at: usize,
}

impl<const N: usize> Writer<N> {
    fn new() -> Self {
        Writer { buf: [0; N], at: 0 }
    }

    fn put<const K: usize>(&mut self, b: [u8; K]) {
        self.buf[self.at..self.at + K].copy_from_slice(&b);
        self.at += K;
    }

    fn u8(&mut self, v: u8) {
        self.put([v]);
    }

    fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes());
    }

    /// A tag byte, then `K` bytes of the value (zeros when absent).
    fn opt<const K: usize>(&mut self, v: Option<[u8; K]>) {
        self.u8(u8::from(v.is_some()));
        self.put(v.unwrap_or([0; K]));
    }
}

/// Reads a head front to back; made only for a head of the right length,
/// so no read can run past it.
struct Reader<'a, const N: usize> {
    buf: &'a [u8; N],
    at: usize,
}

impl<'a, const N: usize> Reader<'a, N> {
    fn new(buf: &'a [u8; N]) -> Self {
        Reader { buf, at: 0 }
    }

    fn take<const K: usize>(&mut self) -> [u8; K] {
        let mut out = [0; K];
        out.copy_from_slice(&self.buf[self.at..self.at + K]);
        self.at += K;
        out
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    /// A tag byte and `K` value bytes; a tag other than 0 or 1 is an error.
    fn opt<const K: usize>(&mut self) -> Result<Option<[u8; K]>, BadHead> {
        let tag = self.u8();
        let v = self.take::<K>();
        match tag {
            0 => Ok(None),
            1 => Ok(Some(v)),
            t => Err(BadHead::OptionTag(t)),
        }
    }
}

/// A head byte that no value writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadHead {
    /// An option's tag other than 0 or 1.
    OptionTag(u8),
    /// A scheduling policy code past 4.
    Policy(u8),
    /// The label's tag other than 0 or 1.
    LabelTag(u8),
}

impl BadHead {
    fn into_de<E: de::Error>(self) -> E {
        let (v, what) = match self {
            BadHead::OptionTag(t) => (t, "an option tag (0 or 1)"),
            BadHead::Policy(c) => (c, "a scheduling policy (0 to 4)"),
            BadHead::LabelTag(t) => (t, "a label tag (0 or 1)"),
        };
        E::invalid_value(de::Unexpected::Unsigned(v.into()), &what)
    }
}

/// A head of `N` bytes, or an error naming the length it had.
fn sized<'a, const N: usize, E: de::Error>(
    head: &'a [u8],
    what: &'static str,
) -> Result<&'a [u8; N], E> {
    head.try_into()
        .map_err(|_| E::invalid_length(head.len(), &what))
}

/// Serializes as serde bytes (postcard: a length and the bytes, in one
/// write), where `&[u8]` itself would be a sequence of single bytes.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A scheduling policy's code: its index in `SchedPolicy`, which is also
/// the tag postcard gives it (`fastwire` writes it so).
pub(crate) fn policy_code(p: SchedPolicy) -> u8 {
    match p {
        SchedPolicy::Normal => 0,
        SchedPolicy::Batch => 1,
        SchedPolicy::Idle => 2,
        SchedPolicy::Fifo => 3,
        SchedPolicy::RoundRobin => 4,
    }
}

/// The policy a [`policy_code`] names.
pub(crate) fn policy_from(code: u8) -> Result<SchedPolicy, BadHead> {
    Ok(match code {
        0 => SchedPolicy::Normal,
        1 => SchedPolicy::Batch,
        2 => SchedPolicy::Idle,
        3 => SchedPolicy::Fifo,
        4 => SchedPolicy::RoundRobin,
        c => return Err(BadHead::Policy(c)),
    })
}

/// The next element of a head-and-parts tuple, or an error naming it.
fn element<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    index: usize,
    exp: &dyn de::Expected,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(index, exp))
}

/// A count in a head, as a length.
fn count<E: de::Error>(n: u32) -> Result<usize, E> {
    usize::try_from(n).map_err(|_| E::custom("a count does not fit this machine"))
}

/// Reads `n` more elements of the tuple into a list.
fn elements<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    n: usize,
    first: usize,
    exp: &dyn de::Expected,
) -> Result<Vec<T>, A::Error> {
    let mut v = Vec::with_capacity(n.min(RESERVE_MAX));
    for i in 0..n {
        v.push(element(seq, first + i, exp)?);
    }
    Ok(v)
}

/// A count for a head, or an error for a list too long to send.
fn count_of<T, E: serde::ser::Error>(v: &[T]) -> Result<u32, E> {
    u32::try_from(v.len()).map_err(|_| E::custom("a list too long for a transaction"))
}

/// `TxnOut`'s head, for a transaction with `objects` objects and
/// `splices` splices.
pub(crate) fn out_head(t: &TxnOut, objects: u32, splices: u32) -> [u8; OUT_HEAD] {
    // Destructured, so that a new field fails to compile here until it
    // has a place on the wire.
    let TxnOut {
        code,
        flags,
        data,
        objects: _,
        splices: _,
        work_source,
    } = t;
    let mut w = Writer::<OUT_HEAD>::new();
    w.u32(*code);
    w.u32(flags.0);
    w.u64(data.offset);
    w.u64(data.len);
    w.opt(work_source.map(u32::to_le_bytes));
    w.u32(objects);
    w.u32(splices);
    debug_assert_eq!(w.at, OUT_HEAD, "every byte of the head is written");
    w.buf
}

/// A `TxnOut` read from its head, without its objects and splices, and
/// how many of each follow.
pub(crate) fn read_out_head(head: &[u8; OUT_HEAD]) -> Result<(TxnOut, u32, u32), BadHead> {
    let mut r = Reader::new(head);
    let code = r.u32();
    let flags = TxnFlags(r.u32());
    let data = DataRange {
        offset: r.u64(),
        len: r.u64(),
    };
    let work_source = r.opt::<4>()?.map(u32::from_le_bytes);
    let (objects, splices) = (r.u32(), r.u32());
    let t = TxnOut {
        code,
        flags,
        data,
        objects: Vec::new(),
        splices: Vec::new(),
        work_source,
    };
    Ok((t, objects, splices))
}

/// `TxnIn`'s head, for a transaction with `objects` objects.
pub(crate) fn in_head(t: &TxnIn, objects: u32) -> [u8; IN_HEAD] {
    let TxnIn {
        id,
        target,
        code,
        flags,
        sender,
        buffer,
        objects: _,
        seq,
        lost,
    } = t;
    let Sender {
        pid,
        tid,
        uid,
        euid,
        label,
        priority,
        work_source,
    } = sender;
    let mut w = Writer::<IN_HEAD>::new();
    w.u64(id.0);
    w.opt(target.map(|(ptr, cookie)| {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&ptr.to_le_bytes());
        b[8..].copy_from_slice(&cookie.to_le_bytes());
        b
    }));
    w.u32(*code);
    w.u32(flags.0);
    w.put(pid.to_le_bytes());
    w.put(tid.to_le_bytes());
    w.u32(*uid);
    w.u32(*euid);
    w.opt(priority.map(|p| [policy_code(p.policy), p.nice as u8, p.rt]));
    w.opt(work_source.map(u32::to_le_bytes));
    w.u64(buffer.offset);
    w.u64(buffer.len);
    w.opt(seq.map(u64::to_le_bytes));
    w.u64(*lost);
    w.u8(u8::from(label.is_some()));
    w.u32(objects);
    debug_assert_eq!(w.at, IN_HEAD, "every byte of the head is written");
    w.buf
}

/// A `TxnIn` read from its head, without its label and objects; whether
/// a label follows and how many objects.
pub(crate) fn read_in_head(head: &[u8; IN_HEAD]) -> Result<(TxnIn, bool, u32), BadHead> {
    let mut r = Reader::new(head);
    let id = TxnId(r.u64());
    let target = r.opt::<16>()?.map(|b| {
        let (ptr, cookie) = b.split_at(8);
        (
            u64::from_le_bytes(ptr.try_into().expect("8 bytes")),
            u64::from_le_bytes(cookie.try_into().expect("8 bytes")),
        )
    });
    let code = r.u32();
    let flags = TxnFlags(r.u32());
    let (pid, tid, uid, euid) = (r.i32(), r.i32(), r.u32(), r.u32());
    let priority = match r.opt::<3>()? {
        Some([policy, nice, rt]) => Some(Priority {
            policy: policy_from(policy)?,
            nice: nice as i8,
            rt,
        }),
        None => None,
    };
    let work_source = r.opt::<4>()?.map(u32::from_le_bytes);
    let buffer = DataRange {
        offset: r.u64(),
        len: r.u64(),
    };
    let seq = r.opt::<8>()?.map(u64::from_le_bytes);
    let lost = r.u64();
    let has_label = match r.u8() {
        0 => false,
        1 => true,
        t => return Err(BadHead::LabelTag(t)),
    };
    let objects = r.u32();
    let t = TxnIn {
        id,
        target,
        code,
        flags,
        sender: Sender {
            pid,
            tid,
            uid,
            euid,
            label: None,
            priority,
            work_source,
        },
        buffer,
        objects: Vec::new(),
        seq,
        lost,
    };
    Ok((t, has_label, objects))
}

impl Serialize for TxnOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let head = out_head(self, count_of(&self.objects)?, count_of(&self.splices)?);
        let mut t = s.serialize_tuple(1 + self.objects.len() + self.splices.len())?;
        t.serialize_element(&Bytes(&head))?;
        for o in &self.objects {
            t.serialize_element(o)?;
        }
        for sp in &self.splices {
            t.serialize_element(sp)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for TxnOut {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TxnOut;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a written transaction: head, objects, splices")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TxnOut, A::Error> {
                let head: &[u8] = element(&mut seq, 0, &self)?;
                let head = sized(head, "a 37-byte transaction head")?;
                let (mut t, n_objects, n_splices) =
                    read_out_head(head).map_err(BadHead::into_de)?;
                let (n_objects, n_splices) = (count(n_objects)?, count(n_splices)?);
                t.objects = elements(&mut seq, n_objects, 1, &self)?;
                t.splices = elements(&mut seq, n_splices, 1 + n_objects, &self)?;
                Ok(t)
            }
        }
        d.deserialize_tuple(ELEMENTS_MAX, V)
    }
}

impl Serialize for TxnIn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let head = in_head(self, count_of(&self.objects)?);
        let label = self.sender.label.as_deref();
        let mut t = s.serialize_tuple(1 + usize::from(label.is_some()) + self.objects.len())?;
        t.serialize_element(&Bytes(&head))?;
        if let Some(l) = label {
            t.serialize_element(l)?;
        }
        for o in &self.objects {
            t.serialize_element(o)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for TxnIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TxnIn;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a read transaction: head, label, objects")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TxnIn, A::Error> {
                let head: &[u8] = element(&mut seq, 0, &self)?;
                let head = sized(head, "a 104-byte transaction head")?;
                let (mut t, has_label, n_objects) = read_in_head(head).map_err(BadHead::into_de)?;
                if has_label {
                    t.sender.label = Some(element::<String, _>(&mut seq, 1, &self)?);
                }
                t.objects = elements(
                    &mut seq,
                    count(n_objects)?,
                    1 + usize::from(has_label),
                    &self,
                )?;
                Ok(t)
            }
        }
        d.deserialize_tuple(ELEMENTS_MAX, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Handle, Object, Rights, Splice};

    fn full_out() -> TxnOut {
        TxnOut {
            code: 0xdead_beef,
            flags: TxnFlags(TxnFlags::ONEWAY | TxnFlags::CLEAR_BUF),
            data: DataRange {
                offset: u64::MAX - 7,
                len: 1 << 40,
            },
            objects: vec![
                Object::Fd { index: 3 },
                Object::Handle {
                    handle: Handle(9),
                    strong: true,
                    rights: Rights::CALL,
                },
            ],
            splices: vec![Splice {
                at: 1,
                buffer: 2,
                offset: 3,
                len: 4,
            }],
            work_source: Some(u32::MAX),
        }
    }

    fn full_in() -> TxnIn {
        TxnIn {
            id: TxnId(u64::MAX),
            target: Some((0x0102_0304_0506_0708, u64::MAX - 1)),
            code: 7,
            flags: TxnFlags(TxnFlags::ACCEPT_FDS),
            sender: Sender {
                pid: -5,
                tid: i32::MAX,
                uid: u32::MAX,
                euid: 1000,
                label: Some("app:maps".into()),
                priority: Some(Priority {
                    policy: SchedPolicy::RoundRobin,
                    nice: -20,
                    rt: 99,
                }),
                work_source: Some(4242),
            },
            buffer: DataRange {
                offset: 4096,
                len: 32,
            },
            objects: vec![Object::Blob { index: 0, len: 77 }],
            seq: Some(1 << 50),
            lost: 3,
        }
    }

    fn round<T: Serialize + for<'de> Deserialize<'de>>(v: &T) -> T {
        let bytes = postcard::to_stdvec(v).unwrap();
        let (back, rest) = postcard::take_from_bytes::<T>(&bytes).unwrap();
        assert!(rest.is_empty());
        back
    }

    #[test]
    fn every_field_survives_the_wire() {
        // Every field away from its default, so one written or read in
        // the wrong place shows.
        assert_eq!(round(&full_out()), full_out());
        assert_eq!(round(&full_in()), full_in());
        let empty_out = TxnOut::default();
        assert_eq!(round(&empty_out), empty_out);
        let mut empty_in = full_in();
        empty_in.target = None;
        empty_in.sender = Sender::default();
        empty_in.seq = None;
        empty_in.objects.clear();
        assert_eq!(round(&empty_in), empty_in);
    }

    #[test]
    fn every_policy_survives_the_wire() {
        for policy in [
            SchedPolicy::Normal,
            SchedPolicy::Batch,
            SchedPolicy::Idle,
            SchedPolicy::Fifo,
            SchedPolicy::RoundRobin,
        ] {
            let mut t = full_in();
            t.sender.priority = Some(Priority {
                policy,
                nice: 19,
                rt: 1,
            });
            assert_eq!(round(&t), t);
        }
    }

    /// The byte offset of `head` inside a postcard encoding whose first
    /// element is the head: after its one-byte length.
    const HEAD_AT: usize = 1;

    #[test]
    fn bad_tags_and_policies_are_errors() {
        let good = postcard::to_stdvec(&full_in()).unwrap();
        // The target's tag is the ninth byte of the head.
        let mut bad = good.clone();
        bad[HEAD_AT + 8] = 2;
        assert!(postcard::from_bytes::<TxnIn>(&bad).is_err());
        // The priority's policy: after id, target, code, flags and the
        // four identity fields, past its tag.
        let policy_at = HEAD_AT + 8 + 17 + 8 + 16 + 1;
        let mut bad = good.clone();
        assert_eq!(bad[policy_at], 4, "the layout moved");
        bad[policy_at] = 5;
        assert!(postcard::from_bytes::<TxnIn>(&bad).is_err());
        let mut out = postcard::to_stdvec(&full_out()).unwrap();
        out[HEAD_AT + 24] = 9;
        assert!(postcard::from_bytes::<TxnOut>(&out).is_err());
    }

    #[test]
    fn truncated_or_resized_heads_are_errors_not_panics() {
        for bytes in [
            postcard::to_stdvec(&full_in()).unwrap(),
            postcard::to_stdvec(&full_out()).unwrap(),
        ] {
            for cut in 0..bytes.len() {
                assert!(postcard::from_bytes::<TxnIn>(&bytes[..cut]).is_err());
                assert!(postcard::from_bytes::<TxnOut>(&bytes[..cut]).is_err());
            }
        }
        // A count far past what follows: an error, after reserving only a
        // few elements.
        let mut huge = postcard::to_stdvec(&full_out()).unwrap();
        huge[HEAD_AT + 29..HEAD_AT + 33].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(postcard::from_bytes::<TxnOut>(&huge).is_err());
        // A head of another length, however the rest reads.
        let mut short = postcard::to_stdvec(&full_out()).unwrap();
        short[0] -= 1;
        short.remove(HEAD_AT);
        assert!(postcard::from_bytes::<TxnOut>(&short).is_err());
    }
}
