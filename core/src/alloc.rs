//! `RecvBuffer`: one per process, the accounting of its receive buffer.
//!
//! The mediator copies each payload into the receiver's buffer at an offset
//! this allocator chose; the receiver frees the range when it is done. The
//! allocator is best-fit over free ranges, keeps oneway (async) payloads to
//! half the buffer, and records who sent each range so that a full buffer
//! can name the processes holding it. Ranges are reserved, then committed
//! (delivered) or aborted, the two phases of binder's `range_alloc`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::Holder;
use crate::ids::NodeId;

/// Allocation granularity: keeps every payload 8-byte aligned.
const ALIGN: u64 = 8;

/// Payloads of at least this many bytes are placed half a page into a page.
const PLACE_MIN: u64 = 4096;
/// The page size the placement works in.
const PAGE: u64 = 4096;
/// Where in a page a large payload starts.
pub(crate) const PAGE_PHASE: u64 = PAGE / 2;

/// The phase for a range whose byte `at` is copied from offset `src` of
/// another buffer: half a page away from it modulo a page, so that the
/// copy never writes just past what it reads (4K aliasing, see
/// [`RecvBuffer::reserve`]).
pub(crate) fn phase_apart(src: u64, at: u64) -> u64 {
    // Wrapping is exact here: 2^64 is a multiple of the page size.
    src.wrapping_sub(at).wrapping_add(PAGE_PHASE) % PAGE
}

/// A free-list entry that is never removed, so the trees never become
/// empty and never free and re-allocate their root node on the call path.
const SENTINEL: u64 = u64::MAX;

/// One allocated range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// Rounded length.
    pub len: u64,
    /// Oneway: counts against the async half, and frees release the node's
    /// next queued oneway call.
    pub oneway_node: Option<NodeId>,
    /// Sender pid, for "who holds the buffer".
    pub sender_pid: i32,
    /// Delivered to the process (only delivered ranges may be freed by it).
    pub delivered: bool,
    /// Zeroed when freed (`TxnFlags::CLEAR_BUF`).
    pub clear: bool,
    /// Nodes of this buffer's owner that the call in it carries back to
    /// it: each is held (`Node::buffer_holds`) until the range is freed.
    pub carried: Option<Box<[NodeId]>>,
}

/// Summary of a buffer for the state dump.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferStats {
    /// Buffer size.
    pub size: u64,
    /// Bytes allocated.
    pub used: u64,
    /// Bytes allocated for oneway calls.
    pub async_used: u64,
    /// Number of allocated ranges.
    pub ranges: usize,
    /// Largest free range.
    pub largest_free: u64,
}

/// The receive-buffer allocator of one process.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    size: u64,
    /// The free range at the bottom, `0..low`, kept out of the trees. It
    /// is taken from only when no free range in the trees fits, from its
    /// top down, and a range freed just above it joins it. A process whose
    /// ranges come and go one at a time (every call and reply) then never
    /// touches the trees: a reserve and its free were five B-tree
    /// operations, a fifth of the state machine's time per round trip.
    low: u64,
    /// Free ranges above `low` by offset, and by (len, offset) for best
    /// fit. None of them starts at `low` (it would have joined it).
    free_by_off: BTreeMap<u64, u64>,
    free_by_len: BTreeSet<(u64, u64)>,
    /// Fx rather than SipHash (four lookups per range on the call path).
    /// Fx is not flood-resistant, but the keys are offsets this allocator
    /// chose: distinct multiples of 8 below `size`. A sender can shape
    /// them with its payload sizes, yet c keys in one bucket need a table
    /// of at least c buckets and so about c candidates per bucket among
    /// size/8: c stays under sqrt(size/8) (362 for 1 MiB, 2896 for the
    /// 64 MiB maximum), a bounded slowdown of this one buffer's lookups.
    used: FxHashMap<u64, Range>,
    used_bytes: u64,
    async_used: u64,
}

/// Why an allocation failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AllocError {
    /// No free range is large enough.
    Full { largest_free: u64 },
    /// The async half would overflow.
    AsyncFull { async_free: u64 },
}

impl RecvBuffer {
    /// An empty buffer of `size` bytes.
    pub fn new(size: u64) -> Self {
        let mut b = RecvBuffer {
            size,
            low: size,
            free_by_off: BTreeMap::new(),
            free_by_len: BTreeSet::new(),
            used: FxHashMap::default(),
            used_bytes: 0,
            async_used: 0,
        };
        b.insert_free(SENTINEL, SENTINEL);
        b
    }

    /// Whether `len` bytes at `offset` within the range delivered at
    /// `buffer` lie inside that range, and the range is delivered and not
    /// yet freed: the bytes a process may splice into a send of its own.
    /// The range's rounding is inside it (bytes this buffer held for this
    /// process, never another's).
    pub fn delivered_holds(&self, buffer: u64, offset: u64, len: u64) -> bool {
        self.used
            .get(&buffer)
            .is_some_and(|r| r.delivered && offset.checked_add(len).is_some_and(|end| end <= r.len))
    }

    /// Buffer size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The async (oneway) space: half the buffer.
    pub fn async_limit(&self) -> u64 {
        self.size / 2
    }

    /// Async bytes still free.
    pub fn async_free(&self) -> u64 {
        self.async_limit().saturating_sub(self.async_used)
    }

    fn insert_free(&mut self, off: u64, len: u64) {
        self.free_by_off.insert(off, len);
        self.free_by_len.insert((len, off));
    }

    /// The largest free range.
    pub fn largest_free(&self) -> u64 {
        self.free_by_len
            .iter()
            .rev()
            .find(|&&(_, off)| off != SENTINEL)
            .map_or(0, |&(len, _)| len)
            .max(self.low)
    }

    /// Whether the trees hold a free range besides the sentinel.
    fn trees_hold_any(&self) -> bool {
        self.free_by_off.len() > 1
    }

    /// Rounded size a payload of `len` occupies (at least one unit, so
    /// every delivery has an offset to free).
    pub fn rounded(len: u64) -> Option<u64> {
        let len = len.max(1);
        len.checked_add(ALIGN - 1).map(|l| l & !(ALIGN - 1))
    }

    /// Reserves a range for a payload of `len` bytes; it is committed by
    /// [`RecvBuffer::commit`] when delivered or given back by
    /// [`RecvBuffer::free`].
    #[cfg(test)]
    pub fn reserve(
        &mut self,
        len: u64,
        oneway_node: Option<NodeId>,
        sender_pid: i32,
    ) -> Result<u64, AllocError> {
        self.reserve_at_phase(len, oneway_node, sender_pid, PAGE_PHASE, false)
    }

    /// As [`reserve`](Self::reserve), with a large payload's range starting
    /// `phase` bytes into a page (rounded down to the alignment) instead of
    /// half a page: a payload spliced from a receive buffer is placed half
    /// a page away from its source modulo 4 KiB, clear of 4K aliasing.
    /// With `clear`, the range is zeroed when freed (`TxnFlags::CLEAR_BUF`).
    pub fn reserve_at_phase(
        &mut self,
        len: u64,
        oneway_node: Option<NodeId>,
        sender_pid: i32,
        phase: u64,
        clear: bool,
    ) -> Result<u64, AllocError> {
        let phase = phase % PAGE / ALIGN * ALIGN;
        let Some(need) = Self::rounded(len) else {
            return Err(AllocError::Full {
                largest_free: self.largest_free(),
            });
        };
        if oneway_node.is_some() && need > self.async_free() {
            return Err(AllocError::AsyncFull {
                async_free: self.async_free(),
            });
        }
        let best = if self.trees_hold_any() {
            self.free_by_len
                .range((need, 0)..)
                .find(|&&(_, off)| off != SENTINEL)
                .copied()
        } else {
            None
        };
        let from_low = best.is_none();
        let (flen, foff) = match best {
            Some(b) => b,
            None if self.low >= need => (self.low, 0),
            None => {
                return Err(AllocError::Full {
                    largest_free: self.largest_free(),
                })
            }
        };
        // Take the top of the free range so that its offset (the key of
        // `free_by_off`) stays put: no tree node churn per call.
        let mut off = foff + (flen - need);
        // A large payload starts half a page into a page. Payloads sit
        // near the start of a send area, and a copy whose destination lies
        // a few bytes past its source modulo 4 KiB (4K aliasing) ran 15x
        // slower here (64 KiB: 19.4 us against 1.3 us): the mediator's copy
        // into this range and the receiver's copy out of it into its own
        // send area both stay clear of that with the range at half a page.
        // The padding up to the free range's top goes with the range.
        let mut need = need;
        if need >= PLACE_MIN {
            let shift = (off + PAGE - phase) % PAGE;
            let fits_async = oneway_node.is_none() || need + shift <= self.async_free();
            if shift <= flen - need && fits_async {
                off -= shift;
                need += shift;
            }
        }
        if from_low {
            // What is left below the range stays the bottom range.
            self.low = flen - need;
        } else if flen > need {
            self.free_by_len.remove(&(flen, foff));
            self.free_by_off.insert(foff, flen - need);
            self.free_by_len.insert((flen - need, foff));
        } else {
            self.free_by_len.remove(&(flen, foff));
            self.free_by_off.remove(&foff);
        }
        self.used.insert(
            off,
            Range {
                len: need,
                oneway_node,
                sender_pid,
                delivered: false,
                clear,
                carried: None,
            },
        );
        self.used_bytes += need;
        if oneway_node.is_some() {
            self.async_used += need;
        }
        Ok(off)
    }

    /// Marks a reserved range delivered: from now on the process may free it.
    pub fn commit(&mut self, off: u64) {
        if let Some(r) = self.used.get_mut(&off) {
            r.delivered = true;
        }
    }

    /// Records the nodes the call in the range at `off` carries back to
    /// this buffer's owner.
    pub fn set_carried(&mut self, off: u64, nodes: Box<[NodeId]>) {
        if let Some(r) = self.used.get_mut(&off) {
            r.carried = Some(nodes);
        }
    }

    /// Every node the allocated ranges carry, once per range carrying it.
    pub fn carried(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.used
            .values()
            .filter_map(|r| r.carried.as_deref())
            .flatten()
            .copied()
    }

    /// The range at `off`, if allocated.
    pub fn get(&self, off: u64) -> Option<&Range> {
        self.used.get(&off)
    }

    /// Frees the range at `off` and merges it with its free neighbours.
    pub fn free(&mut self, off: u64) -> Option<Range> {
        let r = self.used.remove(&off)?;
        self.used_bytes -= r.len;
        if r.oneway_node.is_some() {
            self.async_used -= r.len;
        }
        let mut len = r.len;
        let end = off + r.len;
        if !self.trees_hold_any() {
            if off == self.low {
                self.low = end;
            } else {
                self.insert_free(off, len);
            }
            return Some(r);
        }
        if let Some(nlen) = self.free_by_off.remove(&end) {
            self.free_by_len.remove(&(nlen, end));
            len += nlen;
        }
        if off == self.low {
            self.low += len;
            return Some(r);
        }
        // A free range just below grows in place: its offset, the key of
        // `free_by_off`, stays put (the call path's case, as `reserve`
        // takes the top of a free range), and only `free_by_len` changes.
        match self.free_by_off.range_mut(..off).next_back() {
            Some((&poff, plen)) if poff + *plen == off => {
                let old = *plen;
                *plen += len;
                self.free_by_len.remove(&(old, poff));
                self.free_by_len.insert((old + len, poff));
            }
            _ => self.insert_free(off, len),
        }
        Some(r)
    }

    /// The senders holding the most bytes, largest first (at most three).
    pub fn top_holders(&self, oneway_only: bool) -> Vec<Holder> {
        let mut by_pid: HashMap<i32, u64> = HashMap::new();
        for r in self.used.values() {
            if !oneway_only || r.oneway_node.is_some() {
                *by_pid.entry(r.sender_pid).or_default() += r.len;
            }
        }
        let mut v: Vec<Holder> = by_pid
            .into_iter()
            .map(|(pid, bytes)| Holder { pid, bytes })
            .collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.pid.cmp(&b.pid)));
        v.truncate(3);
        v
    }

    /// Oneway ranges and bytes held by one sender (spam detection).
    pub fn async_held_by(&self, pid: i32) -> (usize, u64) {
        self.used
            .values()
            .filter(|r| r.oneway_node.is_some() && r.sender_pid == pid)
            .fold((0, 0), |(n, b), r| (n + 1, b + r.len))
    }

    /// Accounting summary.
    pub fn stats(&self) -> BufferStats {
        BufferStats {
            size: self.size,
            used: self.used_bytes,
            async_used: self.async_used,
            ranges: self.used.len(),
            largest_free: self.largest_free(),
        }
    }

    /// Checks that used plus free covers the buffer exactly, with no
    /// overlap. For tests and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut spans: Vec<(u64, u64)> = self
            .free_by_off
            .iter()
            .filter(|(&o, _)| o != SENTINEL)
            .map(|(&o, &l)| (o, l))
            .chain(self.used.iter().map(|(&o, r)| (o, r.len)))
            .chain((self.low > 0).then_some((0, self.low)))
            .collect();
        if self.free_by_off.contains_key(&self.low) {
            return Err(format!(
                "a free range starts at the bottom range's end {}",
                self.low
            ));
        }
        spans.sort_unstable();
        let mut at = 0;
        for (o, l) in spans {
            if o != at {
                return Err(format!("gap or overlap at {at}: next range starts {o}"));
            }
            at = o + l;
        }
        if at != self.size {
            return Err(format!("ranges cover {at} of {} bytes", self.size));
        }
        let used: u64 = self.used.values().map(|r| r.len).sum();
        let async_used: u64 = self
            .used
            .values()
            .filter(|r| r.oneway_node.is_some())
            .map(|r| r.len)
            .sum();
        if used != self.used_bytes || async_used != self.async_used {
            return Err("byte counters disagree with the ranges".into());
        }
        if self.free_by_len.len() != self.free_by_off.len()
            || self
                .free_by_len
                .iter()
                .any(|&(len, off)| self.free_by_off.get(&off) != Some(&len))
        {
            return Err("free indexes disagree".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeId {
        NodeId(1 << 32)
    }

    #[test]
    fn freed_ranges_merge_back_into_one() {
        let mut b = RecvBuffer::new(4096);
        let a = b.reserve(100, None, 1).unwrap();
        let c = b.reserve(200, None, 1).unwrap();
        let d = b.reserve(300, None, 1).unwrap();
        b.free(c).unwrap();
        b.free(a).unwrap();
        b.free(d).unwrap();
        b.check_invariants().unwrap();
        assert_eq!(b.largest_free(), 4096);
    }

    #[test]
    fn random_reserves_and_frees_keep_the_indexes_exact() {
        // Frees in every order: merges with the range below, above, both
        // and neither, small and placed (>= 4 KiB) ranges.
        let mut b = RecvBuffer::new(1 << 20);
        let mut held = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3_000 {
            let r = next();
            if r % 3 != 0 || held.is_empty() {
                let len = if r % 7 == 0 { 4096 + r % 9000 } else { r % 600 };
                if let Ok(off) = b.reserve(len, None, 1) {
                    held.push(off);
                }
            } else {
                let off = held.swap_remove((r >> 8) as usize % held.len());
                b.free(off).unwrap();
            }
            b.check_invariants().unwrap();
        }
        for off in held {
            b.free(off).unwrap();
        }
        b.check_invariants().unwrap();
        assert_eq!(b.largest_free(), 1 << 20);
    }

    #[test]
    fn oneway_payloads_may_use_at_most_half_the_buffer() {
        let mut b = RecvBuffer::new(4096);
        b.reserve(2048, Some(node()), 1).unwrap();
        assert_eq!(
            b.reserve(8, Some(node()), 1),
            Err(AllocError::AsyncFull { async_free: 0 })
        );
        // Sync calls may still use the other half.
        b.reserve(2048, None, 1).unwrap();
        b.check_invariants().unwrap();
    }

    #[test]
    fn full_buffer_reports_the_largest_holders() {
        let mut b = RecvBuffer::new(4096);
        b.reserve(3000, None, 7).unwrap();
        b.reserve(500, None, 9).unwrap();
        assert!(matches!(
            b.reserve(1000, None, 1),
            Err(AllocError::Full { .. })
        ));
        let h = b.top_holders(false);
        assert_eq!(
            h[0],
            Holder {
                pid: 7,
                bytes: 3000
            }
        );
        assert_eq!(h[1], Holder { pid: 9, bytes: 504 });
    }

    #[test]
    fn large_payloads_start_half_a_page_into_a_page() {
        let mut b = RecvBuffer::new(1 << 20);
        let small = b.reserve(100, None, 1).unwrap();
        assert_eq!(
            small,
            (1 << 20) - 104,
            "small ones take the top as they are"
        );
        for len in [4096, 65_539, 300_001] {
            let off = b.reserve(len, None, 1).unwrap();
            assert_eq!(off % 4096, 2048, "{len} bytes at {off}");
            assert!(b.get(off).unwrap().len >= len);
            b.check_invariants().unwrap();
        }
        // The padding goes back with the range.
        let offs: Vec<u64> = b.used.keys().copied().collect();
        for off in offs {
            b.free(off).unwrap();
        }
        assert_eq!(b.stats().used, 0);
        assert_eq!(b.largest_free(), 1 << 20);
    }

    #[test]
    fn huge_lengths_do_not_overflow() {
        let mut b = RecvBuffer::new(4096);
        assert!(b.reserve(u64::MAX, None, 1).is_err());
        assert!(b.reserve(u64::MAX - 3, Some(node()), 1).is_err());
        b.check_invariants().unwrap();
    }
}
