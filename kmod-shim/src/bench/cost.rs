//! Where a round trip's time goes: CPU time and context switches per round
//! trip of every process of a rig, from the kernel's own accounting
//! (`/proc/<pid>/task/<tid>/schedstat` and `status`).
//!
//! On one CPU (`same`) a round trip's wall time is the sum of what its
//! processes spend on that CPU, switches included, so this splits a median
//! into its parts: which process costs what, and how many times the CPU
//! changed hands. That is what a ratio against the relay comes down to
//! when no user code shows in a profile.

use std::fs;
use std::io;

use super::{echo_case, BenchError, Mech, Rig};

/// CPU time and context switches of some threads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Time on a CPU, nanoseconds.
    pub run_ns: f64,
    /// Switches away while waiting for something.
    pub voluntary: f64,
    /// Switches away while runnable (preempted).
    pub involuntary: f64,
}

impl Usage {
    fn minus(self, before: Usage) -> Usage {
        Usage {
            run_ns: self.run_ns - before.run_ns,
            voluntary: self.voluntary - before.voluntary,
            involuntary: self.involuntary - before.involuntary,
        }
    }

    fn per(self, n: usize) -> Usage {
        let n = n.max(1) as f64;
        Usage {
            run_ns: self.run_ns / n,
            voluntary: self.voluntary / n,
            involuntary: self.involuntary / n,
        }
    }
}

/// The counters of one thread directory (`/proc/<pid>/task/<tid>` or
/// `/proc/thread-self`).
fn thread_usage(dir: &str) -> io::Result<Usage> {
    let sched = fs::read_to_string(format!("{dir}/schedstat"))?;
    let run_ns = sched
        .split_whitespace()
        .next()
        .and_then(|f| f.parse::<f64>().ok())
        .ok_or_else(|| io::Error::other(format!("{dir}/schedstat: {sched:?}")))?;
    let status = fs::read_to_string(format!("{dir}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(Usage {
        run_ns,
        voluntary: field("voluntary_ctxt_switches:"),
        involuntary: field("nonvoluntary_ctxt_switches:"),
    })
}

/// Summed over every thread of process `pid`.
pub fn process_usage(pid: u32) -> io::Result<Usage> {
    let mut total = Usage::default();
    for t in fs::read_dir(format!("/proc/{pid}/task"))? {
        let t = t?;
        // A thread that ended between the listing and the read counts 0.
        if let Ok(u) = thread_usage(&t.path().to_string_lossy()) {
            total.run_ns += u.run_ns;
            total.voluntary += u.voluntary;
            total.involuntary += u.involuntary;
        }
    }
    Ok(total)
}

/// The usage of each process of a rig per round trip, the calling thread
/// (the client) first.
fn snapshot(helpers: &[(String, u32)]) -> io::Result<Vec<Usage>> {
    let mut v = vec![thread_usage("/proc/thread-self")?];
    for (_, pid) in helpers {
        v.push(process_usage(*pid)?);
    }
    Ok(v)
}

/// Makes `n` round trips of `payload` bytes through `rig` and returns, per
/// process (`client` first, then the rig's helpers), its CPU time and
/// switches per round trip.
pub(super) fn profile(
    rig: &mut dyn Rig,
    payload: usize,
    max_msg: usize,
    n: usize,
) -> Result<Vec<(String, Usage)>, BenchError> {
    let helpers = rig.helpers();
    let io = |source| BenchError::Io {
        what: "reading /proc for CPU accounting".into(),
        source,
    };
    let mut call = echo_case(rig, payload, max_msg);
    // Warm, so that the first call's costs do not count.
    for i in 0..(n / 10).max(2) {
        call(i == 0)?;
    }
    let before = snapshot(&helpers).map_err(io)?;
    for _ in 0..n {
        call(false)?;
    }
    let after = snapshot(&helpers).map_err(io)?;
    let names = std::iter::once("client".to_string()).chain(helpers.into_iter().map(|(n, _)| n));
    Ok(names
        .zip(after.into_iter().zip(before))
        .map(|(name, (a, b))| (name, a.minus(b).per(n)))
        .collect())
}

/// The `COST` lines of one profile: a line per process and a total.
pub fn lines(mech: Mech, placement: &str, payload: usize, parts: &[(String, Usage)]) -> String {
    let mut out = String::new();
    let mut total = Usage::default();
    for (who, u) in parts {
        total.run_ns += u.run_ns;
        total.voluntary += u.voluntary;
        total.involuntary += u.involuntary;
        out.push_str(&line(mech, placement, payload, who, u));
    }
    out.push_str(&line(mech, placement, payload, "all", &total));
    out
}

fn line(mech: Mech, placement: &str, payload: usize, who: &str, u: &Usage) -> String {
    format!(
        "COST mech={} placement={placement} payload={payload} who={who} cpu_us={:.2} switches={:.2} preempted={:.2}\n",
        mech.name(),
        u.run_ns / 1e3,
        u.voluntary + u.involuntary,
        u.involuntary
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_is_accounted() {
        let a = thread_usage("/proc/thread-self").unwrap();
        // Burn a little CPU; the kernel's clock for this thread must move.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        // The kernel brings a running thread's total up to date at a tick
        // or a switch; in a release build the loop can end before either.
        std::thread::sleep(std::time::Duration::from_millis(1));
        let b = thread_usage("/proc/thread-self").unwrap();
        assert!(b.run_ns > a.run_ns, "{a:?} then {b:?}");
        let me = process_usage(std::process::id()).unwrap();
        assert!(me.run_ns >= b.run_ns);
    }

    #[test]
    fn lines_add_up_to_a_total() {
        let u = |run, v, i| Usage {
            run_ns: run,
            voluntary: v,
            involuntary: i,
        };
        let s = lines(
            Mech::RelayBlocking,
            "same",
            32,
            &[
                ("client".into(), u(3000.0, 1.0, 0.25)),
                ("server".into(), u(2000.0, 1.0, 0.0)),
            ],
        );
        assert!(
            s.ends_with("who=all cpu_us=5.00 switches=2.25 preempted=0.25\n"),
            "{s}"
        );
        assert!(s.starts_with("COST mech=relay-blocking placement=same payload=32 who=client cpu_us=3.00 switches=1.25"), "{s}");
    }
}
