//! Counting the proxies this process holds, in all and by the uid that
//! sent them (libbinder's `BpBinder` proxy accounting). A service that many
//! apps call can watch for one app sending it so many objects that it runs
//! out of memory or handles, and act on that app: set watermarks and
//! callbacks, turn counting by uid on, and each proxy made while serving a
//! call is charged to the caller's uid (outside a call, to this process's
//! own uid, as libbinder does).
//!
//! Per uid, as libbinder:
//! - making a proxy when the uid already holds `warning` or more (and fewer
//!   than `high`) calls the warning callback, once;
//! - making one when it holds `high` or more calls the limit callback, and
//!   again each time it holds `high` more than at the last call;
//! - once the uid is down to `low` or fewer, both are armed again.
//!
//! A remote object held both strongly and (separately) weakly is two
//! proxies here, one per count this process holds from the mediator.
//! Callbacks run on the thread that made the proxy, after the accounting
//! lock is let go, so they may read the counts; a panic in one is logged
//! and stops there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// libbinder's defaults (`sBinderProxyCount*Watermark`).
const DEFAULT_HIGH: usize = 2500;
const DEFAULT_LOW: usize = 2000;
const DEFAULT_WARNING: usize = 2250;

/// Called with the uid whose proxies reached a watermark.
pub type ProxyCountCallback = Arc<dyn Fn(u32) + Send + Sync>;

static COUNT: AtomicUsize = AtomicUsize::new(0);
static TRACKING: Mutex<Tracking> = Mutex::new(Tracking::new());

/// The counts by uid and when the callbacks fire: the rules only, so that
/// they are tested without processes.
struct Tracking {
    enabled: bool,
    high: usize,
    low: usize,
    warning: usize,
    by_uid: Option<HashMap<u32, UidCount>>,
    on_limit: Option<ProxyCountCallback>,
    on_warning: Option<ProxyCountCallback>,
}

#[derive(Default)]
struct UidCount {
    held: usize,
    warned: bool,
    /// The count at the last limit callback, while over the limit.
    limit_at: Option<usize>,
}

/// Which callback a new proxy calls.
#[derive(Debug, PartialEq, Eq)]
enum Crossed {
    Warning,
    Limit,
}

impl Tracking {
    const fn new() -> Tracking {
        Tracking {
            enabled: false,
            high: DEFAULT_HIGH,
            low: DEFAULT_LOW,
            warning: DEFAULT_WARNING,
            by_uid: None,
            on_limit: None,
            on_warning: None,
        }
    }

    /// Charges a new proxy to `uid`; says which callback it calls, if any.
    fn add(&mut self, uid: u32) -> Option<Crossed> {
        let (high, warning) = (self.high, self.warning);
        let c = self
            .by_uid
            .get_or_insert_with(HashMap::new)
            .entry(uid)
            .or_default();
        let before = c.held;
        c.held += 1;
        match c.limit_at {
            Some(at) if before > at && before - at > high => {
                c.limit_at = Some(before);
                Some(Crossed::Limit)
            }
            Some(_) => None,
            None if before >= high => {
                c.limit_at = Some(before);
                Some(Crossed::Limit)
            }
            None if before >= warning && !c.warned => {
                c.warned = true;
                Some(Crossed::Warning)
            }
            None => None,
        }
    }

    /// Takes back a proxy charged to `uid`.
    fn remove(&mut self, uid: u32) {
        let low = self.low;
        let Some(map) = self.by_uid.as_mut() else {
            return;
        };
        let Some(c) = map.get_mut(&uid) else {
            return;
        };
        if c.held <= low {
            c.warned = false;
            c.limit_at = None;
        }
        c.held -= 1;
        if c.held == 0 {
            map.remove(&uid);
        }
    }
}

fn tracking() -> MutexGuard<'static, Tracking> {
    TRACKING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A watermark callback due, to call once no lock is held.
#[must_use = "call it once no lock is held"]
pub(crate) struct Due(Option<(ProxyCountCallback, u32)>);

impl Due {
    /// Calls it. A panic in it is logged and goes no further: it runs while
    /// a call's payload is read, before the handler's own guard, and must
    /// not take the serving thread down or leave the caller unanswered.
    pub(crate) fn call(self) {
        if let Some((cb, uid)) = self.0 {
            let run = std::panic::AssertUnwindSafe(|| cb(uid));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!("a proxy count callback for uid {uid} panicked");
            }
        }
    }
}

/// Counts a proxy being made; returns the uid it is charged to while
/// counting by uid is on (its drop hands that to [`proxy_gone`]) and the
/// callback that is due.
pub(crate) fn proxy_made() -> (Option<u32>, Due) {
    COUNT.fetch_add(1, Ordering::Relaxed);
    let mut t = tracking();
    if !t.enabled {
        return (None, Due(None));
    }
    let uid =
        crate::calling_identity().map_or_else(|| rustix::process::getuid().as_raw(), |c| c.uid);
    let callback = match t.add(uid) {
        Some(Crossed::Limit) => {
            tracing::error!("too many proxies sent to this process by uid {uid}");
            t.on_limit.clone()
        }
        Some(Crossed::Warning) => t.on_warning.clone(),
        None => None,
    };
    (Some(uid), Due(callback.map(|cb| (cb, uid))))
}

/// Counts a proxy going; `tracked` is what [`proxy_made`] returned.
pub(crate) fn proxy_gone(tracked: Option<u32>) {
    COUNT.fetch_sub(1, Ordering::Relaxed);
    if let Some(uid) = tracked {
        tracking().remove(uid);
    }
}

/// The proxies this process holds (libbinder's
/// `BpBinder::getBinderProxyCount()`).
pub fn proxy_count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// The proxies charged to `uid` (`getBinderProxyCount(uid)`): made while
/// counting by uid was on.
pub fn proxy_count_for_uid(uid: u32) -> usize {
    tracking()
        .by_uid
        .as_ref()
        .and_then(|m| m.get(&uid))
        .map_or(0, |c| c.held)
}

/// Every uid charged with proxies, and how many (`getCountByUid`), in
/// uid order.
pub fn proxy_counts_by_uid() -> Vec<(u32, usize)> {
    let mut v: Vec<(u32, usize)> = tracking()
        .by_uid
        .iter()
        .flatten()
        .map(|(&uid, c)| (uid, c.held))
        .collect();
    v.sort_unstable();
    v
}

/// Turns counting by uid on or off (`enableCountByUid`,
/// `disableCountByUid`). Off, new proxies are charged to no uid; those
/// already charged are still taken back when they go.
pub fn set_count_by_uid_enabled(enabled: bool) {
    tracking().enabled = enabled;
}

/// Sets the watermarks (`setBinderProxyCountWatermarks(high, low,
/// warning)`); libbinder's defaults are 2500, 2000 and 2250.
pub fn set_proxy_count_watermarks(high: usize, low: usize, warning: usize) {
    let mut t = tracking();
    t.high = high;
    t.low = low;
    t.warning = warning;
}

/// Sets what is called when a uid reaches the high watermark and the
/// warning one (`setBinderProxyCountEventCallback`); `None` for neither.
pub fn set_proxy_count_callbacks(
    on_limit: Option<ProxyCountCallback>,
    on_warning: Option<ProxyCountCallback>,
) {
    let old = {
        let mut t = tracking();
        (
            std::mem::replace(&mut t.on_limit, on_limit),
            std::mem::replace(&mut t.on_warning, on_warning),
        )
    };
    // Dropped with the lock let go: an old callback may hold the last
    // reference to a proxy, whose drop takes the lock.
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracking(high: usize, low: usize, warning: usize) -> Tracking {
        Tracking {
            enabled: true,
            high,
            low,
            warning,
            ..Tracking::new()
        }
    }

    /// The callbacks each of `n` more proxies for uid 7 calls, by count.
    fn add(t: &mut Tracking, n: usize) -> Vec<(usize, Crossed)> {
        (0..n)
            .filter_map(|_| t.add(7).map(|c| (t.by_uid.as_ref().unwrap()[&7].held, c)))
            .collect()
    }

    #[test]
    fn warning_once_then_limit_then_again_every_high_more() {
        let mut t = tracking(30, 20, 25);
        let fired = add(&mut t, 100);
        assert_eq!(
            fired,
            vec![
                (26, Crossed::Warning),
                (31, Crossed::Limit),
                (62, Crossed::Limit),
                (93, Crossed::Limit)
            ]
        );
    }

    #[test]
    fn both_are_armed_again_at_the_low_watermark() {
        let mut t = tracking(30, 20, 25);
        add(&mut t, 31);
        for _ in 0..10 {
            t.remove(7);
        }
        // At 21 held: not yet down to 20 when the last one was taken.
        assert!(add(&mut t, 9).is_empty(), "still over the limit");
        for _ in 0..11 {
            t.remove(7);
        }
        assert_eq!(t.by_uid.as_ref().unwrap()[&7].held, 19);
        assert_eq!(
            add(&mut t, 12),
            vec![(26, Crossed::Warning), (31, Crossed::Limit)]
        );
    }

    #[test]
    fn a_panicking_callback_stops_at_the_call() {
        let cb: ProxyCountCallback = Arc::new(|_| panic!("a callback bug"));
        Due(Some((cb, 7))).call();
    }

    /// An old callback's drop may need the lock (its captures drop a
    /// proxy): replacing it must not hold the lock meanwhile.
    #[test]
    fn replaced_callbacks_are_dropped_with_the_lock_let_go() {
        struct ReadsCounts;
        impl Drop for ReadsCounts {
            fn drop(&mut self) {
                let _ = proxy_counts_by_uid();
            }
        }
        let held = ReadsCounts;
        let cb: ProxyCountCallback = Arc::new(move |_| {
            let _ = &held;
        });
        set_proxy_count_callbacks(Some(cb), None);
        set_proxy_count_callbacks(None, None);
    }

    #[test]
    fn uids_are_counted_apart_and_forgotten_at_zero() {
        let mut t = tracking(3, 1, 3);
        for _ in 0..3 {
            assert_eq!(t.add(1), None);
        }
        assert_eq!(t.add(2), None, "uid 2 has its own count");
        assert_eq!(t.add(1), Some(Crossed::Limit));
        t.remove(2);
        assert!(!t.by_uid.as_ref().unwrap().contains_key(&2));
        // Taking back what was never charged changes nothing.
        t.remove(9);
        assert_eq!(t.by_uid.as_ref().unwrap()[&1].held, 4);
    }
}
