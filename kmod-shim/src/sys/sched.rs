//! Thread scheduling attributes, for priority migration.
//!
//! The mediator reads a calling thread's attributes with [`sched_getattr`]
//! and, when it holds `CAP_SYS_NICE`, lends them to the serving thread with
//! [`sched_setattr`] for the length of the transaction. rustix 1.x has
//! neither call, so both go through `libc::syscall` with a `repr(C)`
//! [`SchedAttr`]. [`ThreadSched`] is the plain view the rest of the mediator
//! works with: policy, nice value, real-time priority, reset-on-fork.

use std::io;
use std::mem::size_of;
use std::ptr;

use crate::sys::Pid;

/// `SCHED_ATTR_SIZE_VER1`: the size of `struct sched_attr` with the
/// utilization-clamp fields (Linux 5.3), which is what [`SchedAttr`] is.
pub const SCHED_ATTR_SIZE_VER1: u32 = 56;

/// `SCHED_FLAG_RESET_ON_FORK`: children of the thread start with the default
/// policy and nice 0 (or better) instead of inheriting a raised priority.
pub const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// `struct sched_attr` (`include/uapi/linux/sched/types.h`), version 1.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    /// Size of this structure; [`sched_setattr`] sets it to
    /// [`SCHED_ATTR_SIZE_VER1`] for you.
    pub size: u32,
    /// `SCHED_NORMAL`, `SCHED_FIFO`, `SCHED_RR`, `SCHED_BATCH`, `SCHED_IDLE`
    /// or `SCHED_DEADLINE`.
    pub sched_policy: u32,
    /// `SCHED_FLAG_*` bits, such as [`SCHED_FLAG_RESET_ON_FORK`].
    pub sched_flags: u64,
    /// Nice value (-20..=19), for `SCHED_NORMAL` and `SCHED_BATCH`.
    pub sched_nice: i32,
    /// Static priority (1..=99) for `SCHED_FIFO` and `SCHED_RR`, else 0.
    pub sched_priority: u32,
    /// `SCHED_DEADLINE` runtime in nanoseconds.
    pub sched_runtime: u64,
    /// `SCHED_DEADLINE` deadline in nanoseconds.
    pub sched_deadline: u64,
    /// `SCHED_DEADLINE` period in nanoseconds.
    pub sched_period: u64,
    /// Utilization clamp minimum (with `SCHED_FLAG_UTIL_CLAMP_MIN`).
    pub sched_util_min: u32,
    /// Utilization clamp maximum (with `SCHED_FLAG_UTIL_CLAMP_MAX`).
    pub sched_util_max: u32,
}

const _: () = assert!(size_of::<SchedAttr>() == SCHED_ATTR_SIZE_VER1 as usize);

/// `sched_getattr(tid, attr, sizeof(attr), 0)`: a thread's scheduling
/// attributes.
///
/// `tid` is a thread id in the caller's pid namespace. Fails with `ESRCH`
/// when no such thread exists.
pub fn sched_getattr(tid: Pid) -> io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    let ptr = ptr::addr_of_mut!(attr);
    // SAFETY: `ptr` points to a live, writable `sched_attr` and the size we
    // pass is its exact size, so the kernel writes only inside it; the pointer
    // is not kept past the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            tid.as_raw_nonzero().get(),
            ptr,
            SCHED_ATTR_SIZE_VER1,
            0u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(attr)
    }
}

/// `sched_setattr(tid, attr, 0)`: sets a thread's scheduling attributes.
///
/// `attr.size` is overwritten with [`SCHED_ATTR_SIZE_VER1`]. Raising a
/// priority, choosing a real-time policy, or touching another user's thread
/// needs `CAP_SYS_NICE` (`EPERM` otherwise); a real-time policy also fails
/// with `EPERM` inside a cgroup that has no real-time runtime.
pub fn sched_setattr(tid: Pid, attr: &SchedAttr) -> io::Result<()> {
    let mut attr = *attr;
    attr.size = SCHED_ATTR_SIZE_VER1;
    let ptr = ptr::addr_of!(attr);
    // SAFETY: `ptr` points to a live, initialized `sched_attr` whose `size`
    // field says its true size, so the kernel reads only inside it; it only
    // reads, and does not keep the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            tid.as_raw_nonzero().get(),
            ptr,
            0u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The shortest and longest slice the kernel accepts for a fair thread
/// (`sched_runtime` is clamped to 0.1 ms ..= 100 ms).
pub const SLICE_RANGE_NS: std::ops::RangeInclusive<u64> = 100_000..=100_000_000;

/// Whether `attr` is a fair-scheduler policy that has a slice.
fn has_slice(attr: &SchedAttr) -> bool {
    matches!(
        SchedPolicy::from_raw(attr.sched_policy),
        Some(SchedPolicy::Normal | SchedPolicy::Batch)
    )
}

/// A thread's slice under the fair scheduler (EEVDF; Linux 6.12 and later
/// report it as `sched_runtime`), in nanoseconds. `None` where the kernel
/// reports none (older kernels) or the thread is not `SCHED_NORMAL` or
/// `SCHED_BATCH`.
pub fn slice_of(tid: Pid) -> io::Result<Option<u64>> {
    let attr = sched_getattr(tid)?;
    Ok(Some(attr.sched_runtime).filter(|&ns| has_slice(&attr) && ns > 0))
}

/// [`slice_of`] the calling thread.
pub fn own_slice() -> io::Result<Option<u64>> {
    slice_of(rustix::thread::gettid())
}

/// Sets the calling thread's fair-scheduler slice: `Some(ns)` (clamped to
/// [`SLICE_RANGE_NS`]), or `None` for the kernel's default (a custom slice
/// is inherited across `clone`, so the default must be asked for). Keeps
/// the thread's policy and nice value, so it needs no privilege. Returns
/// what [`own_slice`] reads afterwards; a thread that is not `SCHED_NORMAL`
/// or `SCHED_BATCH` is left alone and gets `None`, as does every thread on
/// a kernel before 6.12, which ignores the request.
///
/// A longer slice gives the thread a later virtual deadline: a thread it
/// wakes is preferred to it, and the threads whose writes wake it are not
/// preempted by it. Its share of the CPU (its weight) does not change.
pub fn set_own_slice(ns: Option<u64>) -> io::Result<Option<u64>> {
    let me = rustix::thread::gettid();
    let mut attr = sched_getattr(me)?;
    if !has_slice(&attr) {
        return Ok(None);
    }
    // 0 asks for the default (Linux 6.12's `__setscheduler_params`).
    attr.sched_runtime = ns.map_or(0, |ns| {
        ns.clamp(*SLICE_RANGE_NS.start(), *SLICE_RANGE_NS.end())
    });
    // Only reset-on-fork is carried over: the clamp and keep flags would
    // ask for more than a slice.
    attr.sched_flags &= SCHED_FLAG_RESET_ON_FORK;
    sched_setattr(me, &attr)?;
    slice_of(me)
}

/// A scheduling policy capbinder can carry from caller to server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedPolicy {
    /// `SCHED_NORMAL` (`SCHED_OTHER`): the fair scheduler, weighted by nice.
    Normal,
    /// `SCHED_BATCH`: fair, but treated as CPU-bound.
    Batch,
    /// `SCHED_IDLE`: runs only when nothing else wants the CPU.
    Idle,
    /// `SCHED_FIFO`: real-time, first in first out.
    Fifo,
    /// `SCHED_RR`: real-time, round robin.
    RoundRobin,
}

impl SchedPolicy {
    /// The policy for a kernel `SCHED_*` value; `None` for `SCHED_DEADLINE`
    /// and anything unknown (binder does not migrate those either).
    pub fn from_raw(policy: u32) -> Option<SchedPolicy> {
        let policy = i32::try_from(policy).ok()?;
        Some(match policy {
            libc::SCHED_OTHER => SchedPolicy::Normal,
            libc::SCHED_BATCH => SchedPolicy::Batch,
            libc::SCHED_IDLE => SchedPolicy::Idle,
            libc::SCHED_FIFO => SchedPolicy::Fifo,
            libc::SCHED_RR => SchedPolicy::RoundRobin,
            _ => return None,
        })
    }

    /// The kernel's `SCHED_*` value.
    pub fn as_raw(self) -> u32 {
        let raw = match self {
            SchedPolicy::Normal => libc::SCHED_OTHER,
            SchedPolicy::Batch => libc::SCHED_BATCH,
            SchedPolicy::Idle => libc::SCHED_IDLE,
            SchedPolicy::Fifo => libc::SCHED_FIFO,
            SchedPolicy::RoundRobin => libc::SCHED_RR,
        };
        raw.unsigned_abs()
    }

    /// Whether this is a real-time policy (`SCHED_FIFO`, `SCHED_RR`), which
    /// uses [`ThreadSched::rt_priority`] instead of the nice value.
    pub fn is_realtime(self) -> bool {
        matches!(self, SchedPolicy::Fifo | SchedPolicy::RoundRobin)
    }
}

/// The kernel reported a policy capbinder does not carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "thread uses scheduling policy {policy}, which capbinder does not migrate \
     (only SCHED_NORMAL, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO and SCHED_RR); \
     treat the caller as SCHED_NORMAL"
)]
pub struct UnsupportedPolicy {
    /// The raw `SCHED_*` value, e.g. 6 for `SCHED_DEADLINE`.
    pub policy: u32,
}

/// A thread's scheduling, in the terms priority migration needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThreadSched {
    /// The policy.
    pub policy: SchedPolicy,
    /// Nice value, -20 (highest) ..= 19; meaningful for the fair policies,
    /// kept as-is for real-time ones.
    pub nice: i8,
    /// Real-time priority, 1 ..= 99 for `Fifo` and `RoundRobin`, 0 otherwise.
    pub rt_priority: u8,
    /// `SCHED_FLAG_RESET_ON_FORK`: children do not inherit this priority.
    pub reset_on_fork: bool,
}

impl ThreadSched {
    /// `SCHED_NORMAL` at `nice`, without reset-on-fork.
    pub fn normal(nice: i8) -> ThreadSched {
        ThreadSched {
            policy: SchedPolicy::Normal,
            nice: nice.clamp(-20, 19),
            rt_priority: 0,
            reset_on_fork: false,
        }
    }

    /// The `struct sched_attr` that sets this. Out-of-range values are
    /// clamped: nice to -20..=19, a real-time priority to 1..=99, and the
    /// real-time priority of a fair policy to 0 (the kernel demands it).
    pub fn to_attr(&self) -> SchedAttr {
        let rt_priority = if self.policy.is_realtime() {
            u32::from(self.rt_priority.clamp(1, 99))
        } else {
            0
        };
        SchedAttr {
            size: SCHED_ATTR_SIZE_VER1,
            sched_policy: self.policy.as_raw(),
            sched_flags: if self.reset_on_fork {
                SCHED_FLAG_RESET_ON_FORK
            } else {
                0
            },
            sched_nice: i32::from(self.nice.clamp(-20, 19)),
            sched_priority: rt_priority,
            ..SchedAttr::default()
        }
    }
}

impl TryFrom<&SchedAttr> for ThreadSched {
    type Error = UnsupportedPolicy;

    fn try_from(attr: &SchedAttr) -> Result<ThreadSched, UnsupportedPolicy> {
        let policy = SchedPolicy::from_raw(attr.sched_policy).ok_or(UnsupportedPolicy {
            policy: attr.sched_policy,
        })?;
        let nice = i8::try_from(attr.sched_nice.clamp(-20, 19)).unwrap_or(0);
        let rt_priority = u8::try_from(attr.sched_priority.min(99)).unwrap_or(99);
        Ok(ThreadSched {
            policy,
            nice,
            rt_priority: if policy.is_realtime() { rt_priority } else { 0 },
            reset_on_fork: attr.sched_flags & SCHED_FLAG_RESET_ON_FORK != 0,
        })
    }
}

/// Reading a thread's scheduling failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    /// `sched_getattr` failed (`ESRCH`: the thread is gone).
    #[error("sched_getattr on thread {tid} failed: {source}")]
    Getattr {
        /// The thread asked about.
        tid: i32,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The thread's policy is one capbinder does not carry.
    #[error(transparent)]
    Unsupported(#[from] UnsupportedPolicy),
}

/// A thread's scheduling as a [`ThreadSched`] (`sched_getattr` underneath).
pub fn thread_sched(tid: Pid) -> Result<ThreadSched, SchedError> {
    let attr = sched_getattr(tid).map_err(|source| SchedError::Getattr {
        tid: tid.as_raw_nonzero().get(),
        source,
    })?;
    Ok(ThreadSched::try_from(&attr)?)
}

/// Sets a thread's scheduling from a [`ThreadSched`] (`sched_setattr`
/// underneath; see there for when it fails).
pub fn set_thread_sched(tid: Pid, sched: &ThreadSched) -> io::Result<()> {
    sched_setattr(tid, &sched.to_attr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn own_thread_attrs_can_be_read() {
        let me = rustix::thread::gettid();
        let attr = sched_getattr(me).unwrap();
        assert!(
            attr.size == 0 || attr.size <= SCHED_ATTR_SIZE_VER1,
            "{attr:?}"
        );
        let view = ThreadSched::try_from(&attr).unwrap();
        assert!((-20..=19).contains(&view.nice));
        // The test harness runs under whatever policy CI gives it; only check
        // that the view agrees with sched_getscheduler(2).
        // The raw syscall: musl's sched_getscheduler() is a stub that fails
        // with ENOSYS.
        // SAFETY: sched_getscheduler takes a pid by value and touches no memory.
        let raw = unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) } as i32;
        let raw = u32::try_from(raw & !libc::SCHED_RESET_ON_FORK).unwrap();
        assert_eq!(view.policy.as_raw(), raw);
    }

    #[test]
    fn a_thread_can_lengthen_its_own_slice() {
        // On a thread of its own: the harness's threads keep theirs.
        std::thread::spawn(|| {
            let Some(default) = set_own_slice(None).unwrap() else {
                // Before Linux 6.12 the kernel reports no slice and takes
                // none.
                assert_eq!(set_own_slice(Some(3_000_000)).unwrap(), None);
                return;
            };
            let want = (default * 4).min(*SLICE_RANGE_NS.end());
            assert_eq!(set_own_slice(Some(default * 4)).unwrap(), Some(want));
            assert_eq!(own_slice().unwrap(), Some(want));
            // Out of range asks are clamped, not refused.
            assert_eq!(
                set_own_slice(Some(1)).unwrap(),
                Some(*SLICE_RANGE_NS.start())
            );
            // A thread it makes inherits the custom slice; asking for the
            // default gives the kernel's back.
            std::thread::spawn(move || {
                assert_eq!(own_slice().unwrap(), Some(*SLICE_RANGE_NS.start()));
                assert_eq!(set_own_slice(None).unwrap(), Some(default));
            })
            .join()
            .unwrap();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn view_round_trips_through_sched_attr() {
        let cases = [
            ThreadSched::normal(-5),
            ThreadSched {
                policy: SchedPolicy::Fifo,
                nice: 0,
                rt_priority: 42,
                reset_on_fork: true,
            },
            ThreadSched {
                policy: SchedPolicy::RoundRobin,
                nice: 3,
                rt_priority: 99,
                reset_on_fork: false,
            },
            ThreadSched {
                policy: SchedPolicy::Idle,
                nice: 19,
                rt_priority: 0,
                reset_on_fork: true,
            },
        ];
        for sched in cases {
            assert_eq!(ThreadSched::try_from(&sched.to_attr()), Ok(sched));
        }
    }

    #[test]
    fn deadline_policy_is_reported_not_migrated() {
        let attr = SchedAttr {
            sched_policy: 6,
            ..SchedAttr::default()
        };
        assert_eq!(
            ThreadSched::try_from(&attr),
            Err(UnsupportedPolicy { policy: 6 })
        );
    }

    #[test]
    fn gone_thread_is_esrch() {
        // A tid above pid_max cannot exist.
        let tid = Pid::from_raw(i32::MAX).unwrap();
        let err = sched_getattr(tid).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn root_can_lend_fifo_priority_and_restore_it() {
        if !rustix::process::geteuid().is_root() {
            eprintln!(
                "skipped root_can_lend_fifo_priority_and_restore_it: needs root (CAP_SYS_NICE)"
            );
            return;
        }
        let (tid_tx, tid_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let worker = std::thread::spawn(move || {
            tid_tx.send(rustix::thread::gettid()).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = tid_rx.recv().unwrap();

        let saved = sched_getattr(tid).unwrap();
        let fifo = ThreadSched {
            policy: SchedPolicy::Fifo,
            nice: 0,
            rt_priority: 1,
            reset_on_fork: true,
        };
        match set_thread_sched(tid, &fifo) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                eprintln!(
                    "skipped root_can_lend_fifo_priority_and_restore_it: SCHED_FIFO refused \
                     with EPERM although root (no CAP_SYS_NICE, or a cgroup without \
                     real-time runtime)"
                );
                done_tx.send(()).unwrap();
                worker.join().unwrap();
                return;
            }
            Err(e) => panic!("sched_setattr(SCHED_FIFO 1) failed: {e}"),
        }
        let now = thread_sched(tid).unwrap();
        assert_eq!(
            (now.policy, now.rt_priority, now.reset_on_fork),
            (SchedPolicy::Fifo, 1, true)
        );

        sched_setattr(tid, &saved).unwrap();
        let restored = sched_getattr(tid).unwrap();
        assert_eq!(
            (
                restored.sched_policy,
                restored.sched_priority,
                restored.sched_nice,
                restored.sched_flags
            ),
            (
                saved.sched_policy,
                saved.sched_priority,
                saved.sched_nice,
                saved.sched_flags
            )
        );
        done_tx.send(()).unwrap();
        worker.join().unwrap();
    }
}
