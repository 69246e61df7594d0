//! Oneway calls in flight: a thread's window of oneway calls sent but not
//! yet accepted by the mediator, where their payloads lie in the send area
//! meanwhile, and what failed among them.
//!
//! By default a oneway call waits for the mediator's `TransactionComplete`
//! (or its failure) before it returns, so its status is the call's own,
//! as with libbinder, where the driver answers within the same ioctl.
//! Here that answer is a message from another process: with the caller on
//! one CPU and the mediator on another, every oneway call costs two
//! cross-CPU wakeups and a stream of them runs at a third of the speed of
//! pipelined D-Bus calls. [`ProcessState::set_oneway_window`] lets each
//! thread keep up to that many oneway calls in flight instead; their
//! answers are read later, in order (the mediator answers a thread's
//! commands in the order it wrote them), whenever the thread reads next.
//!
//! What changes for the caller: a oneway call returns once written, and a
//! failure the mediator finds (the receiver's async space full, a dead
//! object) comes back from
//! [`ProcessState::flush_oneway_calls`](crate::ProcessState::flush_oneway_calls)
//! instead; a dead object's proxy is marked dead as soon as its answer is
//! read, so later calls on it fail at once. Order is unchanged: calls to
//! one object still run in the order they were sent.
//!
//! Payloads: each call in flight keeps its range of the send area until it
//! is answered (the mediator copies the payload when it handles the call).
//! Ranges go round the area; a call waits for older ones to be answered
//! when its range would overlap theirs, when the window is full, and
//! before any payload placed at the start of the area (a sync call, a
//! reply, a parcel built in place).
//!
//! [`ProcessState::set_oneway_window`]: crate::ProcessState::set_oneway_window

use std::collections::VecDeque;

use crate::status::Status;

/// Payloads of more than this share of the send area wait for every call
/// in flight, as a sync call does: two of them would not fit side by side.
const LARGE_SHARE: usize = 2;

/// The failures among the oneway calls a thread sent since it last
/// flushed (see [`ProcessState::flush_oneway_calls`](crate::ProcessState::flush_oneway_calls)).
#[derive(Debug, Clone)]
pub struct OnewayFailures {
    /// How many failed (0 when the wait for them failed instead: the
    /// connection to the mediator is lost, and `first` says so).
    pub count: u64,
    /// The first failure, as a oneway call that waited would have
    /// returned it.
    pub first: Status,
}

impl std::fmt::Display for OnewayFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} oneway call(s) failed; the first: {}",
            self.count, self.first
        )
    }
}

impl std::error::Error for OnewayFailures {}

/// The first failure, with the count in its message, for `?` in code that
/// returns a [`Status`].
impl From<OnewayFailures> for Status {
    fn from(f: OnewayFailures) -> Status {
        Status::from_code(f.first.code, f.to_string())
    }
}

/// One call in flight: its range of the send area (empty for a payload
/// that went as a blob) and what must outlive it (`T`).
struct Sent<T> {
    at: usize,
    len: usize,
    held: T,
}

/// A thread's oneway calls in flight, oldest first.
pub(crate) struct Window<T> {
    calls: VecDeque<Sent<T>>,
    /// Where the next payload goes if it fits before the end of the area.
    next: usize,
    failures: Option<OnewayFailures>,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window {
            calls: VecDeque::new(),
            next: 0,
            failures: None,
        }
    }
}

impl<T> Window<T> {
    /// No call in flight.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Where a payload of `len` bytes can go in a send area of `area`
    /// bytes with at most `window` calls in flight; `None` until the
    /// oldest call is answered.
    pub fn room(&self, len: usize, area: usize, window: usize) -> Option<usize> {
        if self.calls.len() >= window {
            return None;
        }
        if len > area / LARGE_SHARE {
            return self.calls.is_empty().then_some(0);
        }
        let at = if self.next + len <= area {
            self.next
        } else {
            0
        };
        let overlaps = self
            .calls
            .iter()
            .any(|c| c.len > 0 && len > 0 && at < c.at + c.len && c.at < at + len);
        (!overlaps).then_some(at)
    }

    /// A call went out with its payload at `at..at + len` of the area.
    pub fn sent(&mut self, at: usize, len: usize, held: T) {
        self.next = (at + len).next_multiple_of(8);
        self.calls.push_back(Sent { at, len, held });
    }

    /// The oldest call was answered: what it held.
    pub fn answered(&mut self) -> Option<T> {
        let c = self.calls.pop_front()?;
        if self.calls.is_empty() {
            // Back to the start: the next payload may then be built in
            // place, where every area-wide payload starts.
            self.next = 0;
        }
        Some(c.held)
    }

    /// The oldest call's answer was a failure (after `answered`).
    pub fn failed(&mut self, status: Status) {
        match &mut self.failures {
            Some(f) => f.count += 1,
            None => {
                self.failures = Some(OnewayFailures {
                    count: 1,
                    first: status,
                })
            }
        }
    }

    /// The failures since the last call, cleared.
    pub fn take_failures(&mut self) -> Option<OnewayFailures> {
        self.failures.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::StatusCode;

    #[test]
    fn payloads_go_round_the_area_without_overlapping_calls_in_flight() {
        let mut w = Window::<u32>::default();
        let area = 100;
        assert_eq!(w.room(30, area, 8), Some(0));
        w.sent(0, 30, 1);
        assert_eq!(w.room(30, area, 8), Some(32), "8-byte aligned");
        w.sent(32, 30, 2);
        // 64 + 40 passes the end: back to the start, where call 1 lies.
        assert_eq!(w.room(40, area, 8), None);
        assert_eq!(w.answered(), Some(1));
        // Call 2 (32..62) is still in the way of 0..40.
        assert_eq!(w.room(40, area, 8), None);
        // 30 bytes still fit at the end.
        assert_eq!(w.room(30, area, 8), Some(64));
        w.sent(64, 30, 3);
        // Past the end again: 0..30 is clear of 32..62 and 64..94.
        assert_eq!(w.room(30, area, 8), Some(0));
        assert_eq!(w.answered(), Some(2));
        assert_eq!(w.answered(), Some(3));
        assert!(w.is_empty());
        assert_eq!(w.room(40, area, 8), Some(0), "empty: from the start");
    }

    #[test]
    fn the_window_bounds_the_calls_and_large_payloads_wait_for_all() {
        let mut w = Window::<u32>::default();
        w.sent(0, 0, 1); // a blob: no bytes in the area
        w.sent(0, 0, 2);
        assert_eq!(w.room(0, 100, 2), None, "window full");
        assert_eq!(w.room(0, 100, 3), Some(0));
        assert_eq!(w.room(51, 100, 3), None, "over half the area");
        w.answered();
        w.answered();
        assert!(w.is_empty());
        assert_eq!(w.room(51, 100, 3), Some(0));
        assert_eq!(w.answered(), None);
    }

    proptest::proptest! {
        /// Whatever the sizes and the order of sends and answers: a
        /// payload placed lies inside the area and overlaps no call in
        /// flight, the window is never exceeded, an empty window always has
        /// room for a payload that fits, and answers come back in order.
        #[test]
        fn ranges_in_flight_never_overlap(
            area in 64usize..4096,
            window in 1usize..12,
            steps in proptest::collection::vec((0usize..3000, proptest::bool::ANY), 1..200),
        ) {
            let mut w = Window::<(usize, usize, u32)>::default();
            let mut live: std::collections::VecDeque<(usize, usize, u32)> = Default::default();
            let mut next_id = 0u32;
            for (len, answer) in steps {
                if answer {
                    let got = w.answered();
                    proptest::prop_assert_eq!(got, live.pop_front());
                    continue;
                }
                // Over the area it would go as a blob: no bytes in it.
                let len = if len > area { 0 } else { len };
                match w.room(len, area, window) {
                    Some(at) => {
                        proptest::prop_assert!(at + len <= area);
                        for &(o, l, _) in &live {
                            proptest::prop_assert!(
                                len == 0 || l == 0 || at + len <= o || o + l <= at,
                                "{}..{} overlaps {}..{}", at, at + len, o, o + l
                            );
                        }
                        w.sent(at, len, (at, len, next_id));
                        live.push_back((at, len, next_id));
                        next_id += 1;
                        proptest::prop_assert!(live.len() <= window);
                    }
                    None => proptest::prop_assert!(!live.is_empty(), "an empty window refused {} bytes", len),
                }
            }
        }
    }

    #[test]
    fn failures_are_counted_and_the_first_kept() {
        let mut w = Window::<()>::default();
        assert!(w.take_failures().is_none());
        w.failed(Status::from_code(StatusCode::DeadObject, "first"));
        w.failed(Status::from_code(StatusCode::FailedTransaction, "second"));
        let f = w.take_failures().unwrap();
        assert_eq!(f.count, 2);
        assert_eq!(f.first.code, StatusCode::DeadObject);
        let s = Status::from(f);
        assert_eq!(s.code, StatusCode::DeadObject);
        assert!(s.message.contains("2 oneway call(s) failed"), "{s}");
        assert!(w.take_failures().is_none(), "cleared");
    }
}
