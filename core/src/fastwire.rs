//! postcard's bytes for the messages of every call, written and read by
//! hand: a call, a reply, the buffer frees and looper commands written
//! with them, and the returns that deliver them.
//!
//! Why: through serde, postcard spends a function call, a bounds check
//! and a move per field and per enum. With these functions a 32 B round
//! trip took the mediator 11 600 instructions instead of 12 500, the
//! device API's client 2 240 instead of 2 500 and its server 1 760
//! instead of 1 970 (callgrind). Most of what decoding still costs is
//! building and moving each `Command`.
//!
//! This is not a second format. The bytes are exactly postcard's (a
//! varint per integer and enum tag, the packed heads of [`TxnOut`] and
//! [`TxnIn`] as serde bytes), and every function here handles only part
//! of the vocabulary: it answers `None` (or `false`) for anything else
//! (a command or return not listed below, bytes it cannot read), and its
//! caller then asks postcard, which also words every error. The tests
//! hold both to the same bytes and the same values, including on
//! corrupted input.
//!
//! Handled: the commands `Transaction`, `Reply`, `FreeBuffer`,
//! `RegisterLooper`, `EnterLooper`, `ExitLooper`, `WaitForWork`; the
//! returns `TransactionComplete`, `Transaction`, `Reply`, `DeadReply`,
//! `FrozenReply`; with every kind of object and splice.

use crate::packed::{
    in_head, out_head, policy_code, policy_from, read_in_head, read_out_head, IN_HEAD, OUT_HEAD,
};
use crate::protocol::{
    Command, Handle, NodeFlags, Object, Priority, Return, Rights, SchedPolicy, Splice, TxnId,
    TxnIn, TxnOut,
};

/// The enum tags postcard writes: each variant's index in its
/// declaration (checked against postcard in the tests).
mod tag {
    pub const TRANSACTION: u32 = 0;
    pub const REPLY: u32 = 1;
    pub const FREE_BUFFER: u32 = 2;
    pub const REGISTER_LOOPER: u32 = 15;
    pub const ENTER_LOOPER: u32 = 16;
    pub const EXIT_LOOPER: u32 = 17;
    pub const WAIT_FOR_WORK: u32 = 18;

    pub const TRANSACTION_COMPLETE: u32 = 0;
    pub const RET_TRANSACTION: u32 = 1;
    pub const RET_REPLY: u32 = 2;
    pub const DEAD_REPLY: u32 = 3;
    pub const FROZEN_REPLY: u32 = 5;

    pub const BINDER: u32 = 0;
    pub const HANDLE: u32 = 1;
    pub const FD: u32 = 2;
    pub const BLOB: u32 = 3;
    pub const SHARED_MEM: u32 = 4;
}

/// postcard's varint: seven bits a byte, low first, in at most `max`
/// bytes, the last of which may hold at most `last_max`.
#[inline]
fn read_varint(b: &[u8], max: usize, last_max: u8) -> Option<(u64, &[u8])> {
    // Most are tags, counts and small handles: one byte.
    if let [first @ 0..=0x7f, rest @ ..] = b {
        return Some((u64::from(*first), rest));
    }
    let mut out = 0u64;
    for (i, &byte) in b.iter().enumerate().take(max) {
        out |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i == max - 1 && byte > last_max {
                return None;
            }
            return Some((out, &b[i + 1..]));
        }
    }
    None
}

/// A `u64` (or `usize`) as postcard writes it: at most ten bytes, one
/// bit in the tenth.
#[inline]
pub fn read_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    read_varint(b, 10, 0x01)
}

/// A `u32` as postcard writes it: at most five bytes, four bits in the
/// fifth.
#[inline]
pub fn read_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (v, rest) = read_varint(b, 5, 0x0f)?;
    Some((v as u32, rest))
}

/// Appends `v` as postcard's varint.
#[inline]
pub fn write_u64(v: u64, out: &mut Vec<u8>) {
    varint(v, |b| out.push(b));
}

/// `v` as postcard's varint, in a buffer of its own: its bytes are the
/// first `n`. For a writer that is not a `Vec` (a parcel written in its
/// send area).
#[inline]
pub fn u64_varint(v: u64) -> ([u8; 10], usize) {
    let mut buf = [0u8; 10];
    let mut n = 0;
    varint(v, |b| {
        buf[n] = b;
        n += 1;
    });
    (buf, n)
}

/// Hands `put` the bytes of `v` as postcard's varint, low groups first.
/// (Pushed one by one: building them in a buffer and extending the `Vec`
/// with it cost a sixth more instructions on the device's side of a call.)
#[inline(always)]
fn varint(mut v: u64, mut put: impl FnMut(u8)) {
    while v >= 0x80 {
        put(v as u8 | 0x80);
        v >>= 7;
    }
    put(v as u8);
}

/// `n` bytes off the front of `b`.
fn take(b: &[u8], n: u64) -> Option<(&[u8], &[u8])> {
    let n = usize::try_from(n).ok()?;
    (n <= b.len()).then(|| b.split_at(n))
}

/// A packed head of exactly `N` bytes, as serde bytes.
fn read_head<const N: usize>(b: &[u8]) -> Option<(&[u8; N], &[u8])> {
    let (len, rest) = read_u64(b)?;
    let (head, rest) = take(rest, len)?;
    Some((head.try_into().ok()?, rest))
}

fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_u64(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A `u8` or an `i8`: one byte as it is.
fn read_byte(b: &[u8]) -> Option<(u8, &[u8])> {
    b.split_first().map(|(v, rest)| (*v, rest))
}

/// A `bool`: one byte, 0 or 1.
fn read_bool(b: &[u8]) -> Option<(bool, &[u8])> {
    match b.split_first()? {
        (0, rest) => Some((false, rest)),
        (1, rest) => Some((true, rest)),
        _ => None,
    }
}

/// A policy as postcard writes an enum tag: the same code as in a head.
fn read_policy(b: &[u8]) -> Option<(SchedPolicy, &[u8])> {
    let (code, rest) = read_u32(b)?;
    let p = policy_from(u8::try_from(code).ok()?).ok()?;
    Some((p, rest))
}

fn read_node_flags(b: &[u8]) -> Option<(NodeFlags, &[u8])> {
    let (accepts_fds, b) = read_bool(b)?;
    let (min_priority, b) = match read_byte(b)? {
        (0, b) => (None, b),
        (1, b) => {
            let (policy, b) = read_policy(b)?;
            let (nice, b) = read_byte(b)?;
            let (rt, b) = read_byte(b)?;
            let p = Priority {
                policy,
                nice: nice as i8,
                rt,
            };
            (Some(p), b)
        }
        _ => return None,
    };
    let (inherit_rt, b) = read_bool(b)?;
    let flags = NodeFlags {
        accepts_fds,
        min_priority,
        inherit_rt,
    };
    Some((flags, b))
}

fn write_node_flags(f: &NodeFlags, out: &mut Vec<u8>) {
    let NodeFlags {
        accepts_fds,
        min_priority,
        inherit_rt,
    } = f;
    out.push(u8::from(*accepts_fds));
    match min_priority {
        None => out.push(0),
        Some(p) => {
            out.push(1);
            write_u64(policy_code(p.policy).into(), out);
            out.push(p.nice as u8);
            out.push(p.rt);
        }
    }
    out.push(u8::from(*inherit_rt));
}

fn read_object(b: &[u8]) -> Option<(Object, &[u8])> {
    let (t, b) = read_u32(b)?;
    Some(match t {
        tag::BINDER => {
            let (ptr, b) = read_u64(b)?;
            let (cookie, b) = read_u64(b)?;
            let (strong, b) = read_bool(b)?;
            let (flags, b) = read_node_flags(b)?;
            let o = Object::Binder {
                ptr,
                cookie,
                strong,
                flags,
            };
            (o, b)
        }
        tag::HANDLE => {
            let (handle, b) = read_u64(b)?;
            let (strong, b) = read_bool(b)?;
            let (rights, b) = read_byte(b)?;
            let o = Object::Handle {
                handle: Handle(handle),
                strong,
                rights: Rights(rights),
            };
            (o, b)
        }
        tag::FD => {
            let (index, b) = read_u32(b)?;
            (Object::Fd { index }, b)
        }
        tag::BLOB => {
            let (index, b) = read_u32(b)?;
            let (len, b) = read_u64(b)?;
            (Object::Blob { index, len }, b)
        }
        tag::SHARED_MEM => {
            let (index, b) = read_u32(b)?;
            let (len, b) = read_u64(b)?;
            (Object::SharedMem { index, len }, b)
        }
        _ => return None,
    })
}

fn write_object(o: &Object, out: &mut Vec<u8>) {
    match o {
        Object::Binder {
            ptr,
            cookie,
            strong,
            flags,
        } => {
            write_u64(tag::BINDER.into(), out);
            write_u64(*ptr, out);
            write_u64(*cookie, out);
            out.push(u8::from(*strong));
            write_node_flags(flags, out);
        }
        Object::Handle {
            handle,
            strong,
            rights,
        } => {
            write_u64(tag::HANDLE.into(), out);
            write_u64(handle.0, out);
            out.push(u8::from(*strong));
            out.push(rights.0);
        }
        Object::Fd { index } => {
            write_u64(tag::FD.into(), out);
            write_u64((*index).into(), out);
        }
        Object::Blob { index, len } => {
            write_u64(tag::BLOB.into(), out);
            write_u64((*index).into(), out);
            write_u64(*len, out);
        }
        Object::SharedMem { index, len } => {
            write_u64(tag::SHARED_MEM.into(), out);
            write_u64((*index).into(), out);
            write_u64(*len, out);
        }
    }
}

fn read_splice(b: &[u8]) -> Option<(Splice, &[u8])> {
    let (at, b) = read_u64(b)?;
    let (buffer, b) = read_u64(b)?;
    let (offset, b) = read_u64(b)?;
    let (len, b) = read_u64(b)?;
    let s = Splice {
        at,
        buffer,
        offset,
        len,
    };
    Some((s, b))
}

fn write_splice(s: &Splice, out: &mut Vec<u8>) {
    let Splice {
        at,
        buffer,
        offset,
        len,
    } = s;
    for v in [at, buffer, offset, len] {
        write_u64(*v, out);
    }
}

/// Elements reserved ahead for a list whose count a peer wrote: past
/// this, the list grows as elements actually arrive (each takes a byte at
/// least, so a false count fails at the end of the message).
const RESERVE_MAX: u32 = 16;

/// Reads one value off the front of the bytes, with what follows it.
type ReadFn<T> = fn(&[u8]) -> Option<(T, &[u8])>;

/// `n` elements read by `read` into `list`.
fn read_list<'a, T>(
    mut b: &'a [u8],
    n: u32,
    list: &mut Vec<T>,
    read: ReadFn<T>,
) -> Option<&'a [u8]> {
    list.reserve(n.min(RESERVE_MAX) as usize);
    for _ in 0..n {
        let (v, rest) = read(b)?;
        list.push(v);
        b = rest;
    }
    Some(b)
}

fn read_txn_out(b: &[u8]) -> Option<(TxnOut, &[u8])> {
    let (head, b) = read_head::<OUT_HEAD>(b)?;
    let (mut t, objects, splices) = read_out_head(head).ok()?;
    let b = read_list(b, objects, &mut t.objects, read_object)?;
    let b = read_list(b, splices, &mut t.splices, read_splice)?;
    Some((t, b))
}

fn write_txn_out(t: &TxnOut, out: &mut Vec<u8>) -> bool {
    let (Ok(objects), Ok(splices)) = (t.objects.len().try_into(), t.splices.len().try_into())
    else {
        return false;
    };
    write_bytes(&out_head(t, objects, splices), out);
    t.objects.iter().for_each(|o| write_object(o, out));
    t.splices.iter().for_each(|s| write_splice(s, out));
    true
}

/// A `TxnIn`, its label if it has one, and its objects; boxed as soon
/// as its head is read (in `spare` if there is one), so that it is not
/// copied again on its way into a `Return`.
fn read_txn_in<'a>(b: &'a [u8], spare: &mut Option<Box<TxnIn>>) -> Option<(Box<TxnIn>, &'a [u8])> {
    let (head, mut b) = read_head::<IN_HEAD>(b)?;
    let (t, has_label, objects) = read_in_head(head).ok()?;
    let mut t = crate::reuse_box(spare.take(), t);
    if has_label {
        let (len, r) = read_u64(b)?;
        let (label, r) = take(r, len)?;
        t.sender.label = Some(std::str::from_utf8(label).ok()?.to_owned());
        b = r;
    }
    let b = read_list(b, objects, &mut t.objects, read_object)?;
    Some((t, b))
}

fn write_txn_in(t: &TxnIn, out: &mut Vec<u8>) -> bool {
    let Ok(objects) = t.objects.len().try_into() else {
        return false;
    };
    write_bytes(&in_head(t, objects), out);
    if let Some(label) = &t.sender.label {
        write_bytes(label.as_bytes(), out);
    }
    t.objects.iter().for_each(|o| write_object(o, out));
    true
}

/// One command off the front of `b`, with what follows it; `None` for a
/// command this module does not handle or cannot read (ask postcard).
pub fn read_command(b: &[u8]) -> Option<(Command, &[u8])> {
    let (t, rest) = read_u32(b)?;
    Some(match t {
        tag::TRANSACTION => {
            let (handle, rest) = read_u64(rest)?;
            let (txn, rest) = read_txn_out(rest)?;
            (
                Command::Transaction {
                    handle: Handle(handle),
                    txn,
                },
                rest,
            )
        }
        tag::REPLY => {
            let (txn, rest) = read_txn_out(rest)?;
            (Command::Reply(txn), rest)
        }
        tag::FREE_BUFFER => {
            let (offset, rest) = read_u64(rest)?;
            (Command::FreeBuffer { offset }, rest)
        }
        tag::REGISTER_LOOPER => (Command::RegisterLooper, rest),
        tag::ENTER_LOOPER => (Command::EnterLooper, rest),
        tag::EXIT_LOOPER => (Command::ExitLooper, rest),
        tag::WAIT_FOR_WORK => (Command::WaitForWork, rest),
        _ => return None,
    })
}

/// Appends `c` as postcard writes it and says true; false, with `out`
/// as it was, for a command this module does not handle.
pub fn write_command(c: &Command, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let done = match c {
        Command::Transaction { handle, txn } => {
            write_u64(tag::TRANSACTION.into(), out);
            write_u64(handle.0, out);
            write_txn_out(txn, out)
        }
        Command::Reply(txn) => {
            write_u64(tag::REPLY.into(), out);
            write_txn_out(txn, out)
        }
        Command::FreeBuffer { offset } => {
            write_u64(tag::FREE_BUFFER.into(), out);
            write_u64(*offset, out);
            true
        }
        Command::RegisterLooper => unit(tag::REGISTER_LOOPER, out),
        Command::EnterLooper => unit(tag::ENTER_LOOPER, out),
        Command::ExitLooper => unit(tag::EXIT_LOOPER, out),
        Command::WaitForWork => unit(tag::WAIT_FOR_WORK, out),
        _ => false,
    };
    if !done {
        out.truncate(start);
    }
    done
}

fn unit(t: u32, out: &mut Vec<u8>) -> bool {
    write_u64(t.into(), out);
    true
}

/// One return off the front of `b`, with what follows it; `None` for a
/// return this module does not handle or cannot read (ask postcard).
pub fn read_return(b: &[u8]) -> Option<(Return, &[u8])> {
    read_return_in(b, &mut None)
}

/// [`read_return`], boxing a delivered call or reply in `spare` (taken)
/// when there is one: a reader that hands each `TxnIn`'s box back
/// allocates none per delivery.
pub fn read_return_in<'a>(
    b: &'a [u8],
    spare: &mut Option<Box<TxnIn>>,
) -> Option<(Return, &'a [u8])> {
    let (t, rest) = read_u32(b)?;
    Some(match t {
        tag::TRANSACTION_COMPLETE => (Return::TransactionComplete, rest),
        tag::RET_TRANSACTION => {
            let (txn, rest) = read_txn_in(rest, spare)?;
            (Return::Transaction(txn), rest)
        }
        tag::RET_REPLY => {
            let (txn, rest) = read_txn_in(rest, spare)?;
            (Return::Reply(txn), rest)
        }
        tag::DEAD_REPLY => {
            let (id, rest) = read_u64(rest)?;
            (Return::DeadReply { id: TxnId(id) }, rest)
        }
        tag::FROZEN_REPLY => {
            let (id, rest) = read_u64(rest)?;
            (Return::FrozenReply { id: TxnId(id) }, rest)
        }
        _ => return None,
    })
}

/// Appends `r` as postcard writes it and says true; false, with `out`
/// as it was, for a return this module does not handle.
pub fn write_return(r: &Return, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let done = match r {
        Return::TransactionComplete => unit(tag::TRANSACTION_COMPLETE, out),
        Return::Transaction(txn) => {
            write_u64(tag::RET_TRANSACTION.into(), out);
            write_txn_in(txn, out)
        }
        Return::Reply(txn) => {
            write_u64(tag::RET_REPLY.into(), out);
            write_txn_in(txn, out)
        }
        Return::DeadReply { id } => {
            write_u64(tag::DEAD_REPLY.into(), out);
            write_u64(id.0, out);
            true
        }
        Return::FrozenReply { id } => {
            write_u64(tag::FROZEN_REPLY.into(), out);
            write_u64(id.0, out);
            true
        }
        _ => false,
    };
    if !done {
        out.truncate(start);
    }
    done
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::Failure;
    use crate::protocol::{DataRange, Object, Priority, SchedPolicy, Sender, Splice, TxnFlags};

    fn policy() -> impl Strategy<Value = SchedPolicy> {
        prop_oneof![
            Just(SchedPolicy::Normal),
            Just(SchedPolicy::Batch),
            Just(SchedPolicy::Idle),
            Just(SchedPolicy::Fifo),
            Just(SchedPolicy::RoundRobin),
        ]
    }

    fn priority() -> impl Strategy<Value = Priority> {
        (policy(), any::<i8>(), any::<u8>()).prop_map(|(policy, nice, rt)| Priority {
            policy,
            nice,
            rt,
        })
    }

    fn object() -> impl Strategy<Value = Object> {
        prop_oneof![
            (
                any::<u64>(),
                any::<u64>(),
                any::<bool>(),
                any::<bool>(),
                prop::option::of(priority()),
                any::<bool>()
            )
                .prop_map(
                    |(ptr, cookie, strong, accepts_fds, min_priority, inherit_rt)| {
                        Object::Binder {
                            ptr,
                            cookie,
                            strong,
                            flags: NodeFlags {
                                accepts_fds,
                                min_priority,
                                inherit_rt,
                            },
                        }
                    }
                ),
            (any::<u64>(), any::<bool>(), any::<u8>()).prop_map(|(h, strong, r)| {
                Object::Handle {
                    handle: Handle(h),
                    strong,
                    rights: Rights(r),
                }
            }),
            any::<u32>().prop_map(|index| Object::Fd { index }),
            (any::<u32>(), any::<u64>()).prop_map(|(index, len)| Object::Blob { index, len }),
            (any::<u32>(), any::<u64>()).prop_map(|(index, len)| Object::SharedMem { index, len }),
        ]
    }

    fn splice() -> impl Strategy<Value = Splice> {
        any::<[u64; 4]>().prop_map(|[at, buffer, offset, len]| Splice {
            at,
            buffer,
            offset,
            len,
        })
    }

    fn txn_out() -> impl Strategy<Value = TxnOut> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<Option<u32>>(),
            prop::collection::vec(object(), 0..4),
            prop::collection::vec(splice(), 0..3),
        )
            .prop_map(
                |(code, flags, offset, len, work_source, objects, splices)| TxnOut {
                    code,
                    flags: TxnFlags(flags),
                    data: DataRange { offset, len },
                    objects,
                    splices,
                    work_source,
                },
            )
    }

    fn txn_in() -> impl Strategy<Value = TxnIn> {
        (
            (any::<u64>(), any::<Option<(u64, u64)>>(), any::<u32>()),
            (any::<i32>(), any::<i32>(), any::<u32>(), any::<u32>()),
            prop::option::of("[a-z:é]{0,12}"),
            prop::option::of(priority()),
            (any::<Option<u32>>(), any::<u64>(), any::<Option<u64>>()),
            prop::collection::vec(object(), 0..4),
        )
            .prop_map(
                |(
                    (id, target, code),
                    (pid, tid, uid, euid),
                    label,
                    priority,
                    (ws, lost, seq),
                    objects,
                )| {
                    TxnIn {
                        id: TxnId(id),
                        target,
                        code,
                        flags: TxnFlags(code.rotate_left(7)),
                        sender: Sender {
                            pid,
                            tid,
                            uid,
                            euid,
                            label,
                            priority,
                            work_source: ws,
                        },
                        buffer: DataRange {
                            offset: lost.rotate_left(9),
                            len: u64::from(code),
                        },
                        objects,
                        seq,
                        lost,
                    }
                },
            )
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            (any::<u64>(), txn_out()).prop_map(|(h, txn)| Command::Transaction {
                handle: Handle(h),
                txn
            }),
            txn_out().prop_map(Command::Reply),
            any::<u64>().prop_map(|offset| Command::FreeBuffer { offset }),
            Just(Command::RegisterLooper),
            Just(Command::EnterLooper),
            Just(Command::ExitLooper),
            Just(Command::WaitForWork),
            any::<u64>().prop_map(|h| Command::Acquire(Handle(h))),
            any::<u64>().prop_map(|cookie| Command::DeadBinderDone { cookie }),
            Just(Command::DumpState),
        ]
    }

    fn ret() -> impl Strategy<Value = Return> {
        prop_oneof![
            Just(Return::TransactionComplete),
            txn_in().prop_map(|t| Return::Transaction(Box::new(t))),
            txn_in().prop_map(|t| Return::Reply(Box::new(t))),
            any::<u64>().prop_map(|id| Return::DeadReply { id: TxnId(id) }),
            any::<u64>().prop_map(|id| Return::FrozenReply { id: TxnId(id) }),
            Just(Return::SpawnLooper),
            any::<u64>().prop_map(|id| Return::FailedReply {
                id: TxnId(id),
                error: Failure::BadHandle(Handle(id)),
            }),
        ]
    }

    /// What postcard reads off the front of `b`, with how much is left.
    fn postcard_take<T: serde::de::DeserializeOwned>(b: &[u8]) -> Option<(T, usize)> {
        postcard::take_from_bytes::<T>(b)
            .ok()
            .map(|(v, rest)| (v, rest.len()))
    }

    /// `read` reads back what postcard writes of `v` when `write` handles
    /// it; and off those bytes with `flips` applied and up to two cut off,
    /// whatever `read` reads, postcard reads the same, as much left over.
    fn reads_as_postcard_reads<T>(
        v: &T,
        write: fn(&T, &mut Vec<u8>) -> bool,
        read: ReadFn<T>,
        flips: &[(usize, u8)],
        cut: usize,
    ) -> Result<(), TestCaseError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq + std::fmt::Debug,
    {
        let good = postcard::to_stdvec(v).unwrap();
        if write(v, &mut Vec::new()) {
            prop_assert_eq!(read(&good).map(|(v, r)| (v, r.len())), Some((v.clone(), 0)));
        }
        let mut bad = good.clone();
        for &(at, x) in flips {
            let i = at % bad.len();
            bad[i] ^= x;
        }
        bad.truncate(bad.len().saturating_sub(cut % 3));
        if let Some((got, rest)) = read(&bad) {
            prop_assert_eq!(Some((got, rest.len())), postcard_take::<T>(&bad));
        }
        Ok(())
    }

    #[test]
    fn tags_are_postcards() {
        let first = |c: &Command| postcard::to_stdvec(c).unwrap()[0];
        let txn = TxnOut::default();
        for (c, t) in [
            (
                Command::Transaction {
                    handle: Handle(0),
                    txn: txn.clone(),
                },
                tag::TRANSACTION,
            ),
            (Command::Reply(txn), tag::REPLY),
            (Command::FreeBuffer { offset: 0 }, tag::FREE_BUFFER),
            (Command::RegisterLooper, tag::REGISTER_LOOPER),
            (Command::EnterLooper, tag::ENTER_LOOPER),
            (Command::ExitLooper, tag::EXIT_LOOPER),
            (Command::WaitForWork, tag::WAIT_FOR_WORK),
        ] {
            assert_eq!(u32::from(first(&c)), t, "{c:?}");
        }
        let first_of = |o: &Object| postcard::to_stdvec(o).unwrap()[0];
        for (o, t) in [
            (
                Object::Binder {
                    ptr: 0,
                    cookie: 0,
                    strong: false,
                    flags: NodeFlags::default(),
                },
                tag::BINDER,
            ),
            (
                Object::Handle {
                    handle: Handle(0),
                    strong: false,
                    rights: Rights(0),
                },
                tag::HANDLE,
            ),
            (Object::Fd { index: 0 }, tag::FD),
            (Object::Blob { index: 0, len: 0 }, tag::BLOB),
            (Object::SharedMem { index: 0, len: 0 }, tag::SHARED_MEM),
        ] {
            assert_eq!(u32::from(first_of(&o)), t, "{o:?}");
        }
        let first = |r: &Return| postcard::to_stdvec(r).unwrap()[0];
        for (r, t) in [
            (Return::TransactionComplete, tag::TRANSACTION_COMPLETE),
            (Return::DeadReply { id: TxnId(0) }, tag::DEAD_REPLY),
            (Return::FrozenReply { id: TxnId(0) }, tag::FROZEN_REPLY),
        ] {
            assert_eq!(u32::from(first(&r)), t, "{r:?}");
        }
    }

    #[test]
    fn varints_read_as_postcard_reads_them() {
        // Every length, the largest values, and one bit too many.
        let mut cases: Vec<Vec<u8>> = (0..64)
            .map(|s| postcard::to_stdvec(&(1u64 << s)).unwrap())
            .collect();
        cases.push(postcard::to_stdvec(&u64::MAX).unwrap());
        cases.push(vec![0xff; 9].into_iter().chain([0x02]).collect());
        cases.push(vec![0xff; 4].into_iter().chain([0x1f]).collect());
        cases.push(vec![0xff; 11]);
        cases.push(vec![0x80, 0x00]);
        cases.push(vec![]);
        for b in cases {
            assert_eq!(
                read_u64(&b).map(|(v, r)| (v, r.len())),
                postcard_take::<u64>(&b),
                "{b:x?}"
            );
            assert_eq!(
                read_u32(&b).map(|(v, r)| (v, r.len())),
                postcard_take::<u32>(&b),
                "{b:x?}"
            );
        }
    }

    proptest! {
        #[test]
        fn commands_are_written_as_postcard_writes_them(c in command()) {
            let mut out = vec![7];
            if write_command(&c, &mut out) {
                prop_assert_eq!(&out[1..], &postcard::to_stdvec(&c).unwrap()[..]);
            } else {
                prop_assert_eq!(out, vec![7]);
                let handled = matches!(
                    &c,
                    Command::Transaction { .. }
                        | Command::Reply(_)
                        | Command::FreeBuffer { .. }
                        | Command::RegisterLooper
                        | Command::EnterLooper
                        | Command::ExitLooper
                        | Command::WaitForWork
                );
                prop_assert!(!handled, "{:?} is one this module writes", c);
            }
        }

        #[test]
        fn returns_are_written_as_postcard_writes_them(r in ret()) {
            let mut out = vec![7];
            if write_return(&r, &mut out) {
                prop_assert_eq!(&out[1..], &postcard::to_stdvec(&r).unwrap()[..]);
            } else {
                prop_assert_eq!(out, vec![7]);
                let always = matches!(
                    &r,
                    Return::TransactionComplete
                        | Return::Transaction(_)
                        | Return::Reply(_)
                        | Return::DeadReply { .. }
                        | Return::FrozenReply { .. }
                );
                prop_assert!(!always, "{:?} is one this module writes", r);
            }
        }

        /// A delivery read into a handed-back box reads as a fresh one
        /// does, whatever the box held before, and lands in that box.
        #[test]
        fn a_return_read_into_a_spare_box_reads_as_a_fresh_one(
            r in ret(),
            old in txn_in(),
        ) {
            let mut bytes = Vec::new();
            prop_assume!(write_return(&r, &mut bytes));
            let spare = Box::new(old);
            let at: *const TxnIn = &*spare;
            let mut spare = Some(spare);
            let got = read_return_in(&bytes, &mut spare);
            prop_assert_eq!(&got, &read_return(&bytes));
            if let Some((Return::Transaction(b) | Return::Reply(b), _)) = &got {
                prop_assert!(std::ptr::eq(&**b, at), "the spare box was not used");
                prop_assert!(spare.is_none());
            } else {
                prop_assert!(spare.is_some(), "a return without a TxnIn took the box");
            }
        }

        /// Whatever the bytes, a command read here is what postcard reads,
        /// with as much left over; and what postcard writes of a command
        /// this module writes, it reads back.
        #[test]
        fn commands_read_as_postcard_reads_them(
            c in command(),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
            cut in any::<usize>(),
        ) {
            reads_as_postcard_reads(&c, write_command, read_command, &flips, cut)?;
        }

        #[test]
        fn returns_read_as_postcard_reads_them(
            r in ret(),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
            cut in any::<usize>(),
        ) {
            reads_as_postcard_reads(&r, write_return, read_return, &flips, cut)?;
        }
    }
}
