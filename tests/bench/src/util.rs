//! What every case shares: errors as text, the temporary directory,
//! re-pinning whole process trees, the timing loop, the records helper
//! processes write on a shared pipe, the mediator's memory, and the
//! watchdog that ends a stuck run.

use std::fmt::Display;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use capbinder_kmod_shim::bench::stats::{self, Summary};
use rustix::process::Pid;
use rustix::thread::{sched_setaffinity, CpuSet};

/// Every failure is a sentence saying what was being done.
pub type Res<T> = Result<T, String>;

/// Adds what we were doing to an error.
pub trait Ctx<T> {
    /// `what: error`.
    fn ctx(self, what: &str) -> Res<T>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Res<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// The last progress line and when it was printed: where the watchdog
/// says a stuck run stopped.
static LAST_PROGRESS: Mutex<Option<(Instant, String)>> = Mutex::new(None);

/// Progress, on stderr.
pub fn progress(msg: &str) {
    eprintln!("capbinder-bench: {msg}");
    *LAST_PROGRESS.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((Instant::now(), msg.to_owned()));
}

/// Ends the run when no progress line came for `limit`: a benchmark that
/// hangs must fail where it hung, with what the mediator held, and not
/// sit until CI's own limit. `report` says what to add (the mediator's
/// state); it runs on a thread of its own and gets 20 s. The helper
/// processes die with this one (`PR_SET_PDEATHSIG`).
pub fn start_watchdog(limit: Duration, report: fn() -> String) {
    let start = Instant::now();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let (since, what) = LAST_PROGRESS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| (start, "starting".to_owned()));
        if since.elapsed() < limit {
            continue;
        }
        eprintln!(
            "capbinder-bench: stuck: no progress for {} s since \"{what}\"; ending the run",
            limit.as_secs()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(report());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(text) => eprintln!("{text}"),
            Err(_) => eprintln!("capbinder-bench: no answer from the mediator in 20 s either"),
        }
        std::process::exit(3);
    });
}

/// `/tmp/cbb.<pid>` (short, so that socket paths fit `sun_path`), mode
/// 0700, removed on drop. Not the bench module's `TempDir`: that one is
/// `/tmp/cbrb.<pid>` and the floors make and remove it themselves.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it, replacing a stale one.
    pub fn new() -> Res<TempDir> {
        let p = PathBuf::from(format!("/tmp/cbb.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&p)
            .ctx(&format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every thread of `pid` onto `cpu` (threads it starts later inherit it).
pub fn repin(pid: u32, cpu: usize) -> Res<()> {
    repin_to(pid, &[cpu])
}

/// Every thread of `pid` onto the CPUs in `cpus` (threads it starts later
/// inherit them).
pub fn repin_to(pid: u32, cpus: &[usize]) -> Res<()> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c);
    }
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).ctx(&format!("listing {dir}"))?;
    for t in tasks.flatten() {
        let Some(tid) = t
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
            .and_then(Pid::from_raw)
        else {
            continue;
        };
        // A thread may exit meanwhile; that is fine.
        let _ = sched_setaffinity(Some(tid), &set);
    }
    Ok(())
}

/// `pid` and every process below it (from `/proc/*/stat`).
#[cfg_attr(target_env = "musl", allow(dead_code))] // D-Bus only
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split
            // after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
                continue;
            };
            if let Some(pp) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u32>().ok())
            {
                parents.push((p, pp));
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// Re-pins `pid` and everything below it.
#[cfg_attr(target_env = "musl", allow(dead_code))] // D-Bus only
pub fn repin_tree(pid: u32, cpu: usize) -> Res<()> {
    for p in tree(pid) {
        repin(p, cpu)?;
    }
    Ok(())
}

/// A payload that differs per size.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0; len];
    capbinder_kmod_shim::bench::pattern(&mut v, seed);
    v
}

/// Warm-up (a tenth, at least 2), then `iters` timed calls. `call(check)`
/// does one operation and, when `check` is set (the first warm-up and a
/// last call after timing), also verifies its answer in full.
pub fn measure(iters: usize, mut call: impl FnMut(bool) -> Res<()>) -> Res<Summary> {
    let warm = (iters / 10).max(2);
    for i in 0..warm {
        call(i == 0)?;
    }
    let mut samples = vec![0u64; iters];
    let start = Instant::now();
    for s in samples.iter_mut() {
        let t0 = Instant::now();
        call(false)?;
        *s = t0.elapsed().as_nanos() as u64;
    }
    let total = start.elapsed();
    call(true)?;
    Ok(stats::summarize(&mut samples, total))
}

/// Samples gathered elsewhere (several threads), over `total`.
pub fn summarize(mut samples: Vec<u64>, total: Duration) -> Summary {
    stats::summarize(&mut samples, total)
}

/// A record a helper writes on the shared pipe: 16 bytes, so that writes
/// from many processes never interleave (`PIPE_BUF` is at least 512).
pub const REC: usize = 16;

/// Record kinds.
pub const REC_READY: u8 = b'R';
/// An acknowledgement; the value is how many messages of the burst the
/// subscriber got.
pub const REC_ACK: u8 = b'A';

/// Writes one record to `fd` with one `write` (not through `Stdout`'s
/// buffer).
pub fn write_record(fd: BorrowedFd<'_>, kind: u8, value: u64) -> Res<()> {
    let mut rec = [0u8; REC];
    rec[0] = kind;
    rec[8..].copy_from_slice(&value.to_le_bytes());
    let n = rustix::io::write(fd, &rec).ctx("writing a record")?;
    if n != REC {
        return Err(format!("a {n}-byte record write"));
    }
    Ok(())
}

/// Writes a record on this process's stdout.
pub fn record_stdout(kind: u8, value: u64) -> Res<()> {
    write_record(std::io::stdout().as_fd(), kind, value)
}

/// Reads up to `n` records from `fd` within `timeout`; returns the values
/// of those that arrived: fewer than `n` on timeout.
pub fn read_records(fd: &OwnedFd, n: usize, kind: u8, timeout: Duration) -> Res<Vec<u64>> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; n * REC];
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut pfd = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
        match rustix::event::poll(&mut pfd, Some(&ts)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("poll on the record pipe: {e}")),
        }
        match rustix::io::read(fd, &mut buf[got..]) {
            Ok(0) => return Err("the record pipe closed (a helper died?)".into()),
            Ok(k) => got += k,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("reading the record pipe: {e}")),
        }
    }
    // Writes of one record are atomic on a pipe, so reads end on record
    // boundaries.
    let mut out = Vec::with_capacity(n);
    for rec in buf[..got].chunks_exact(REC) {
        if rec[0] != kind {
            return Err(format!(
                "expected record {:?}, got {:?}",
                kind as char, rec[0] as char
            ));
        }
        let mut v = [0u8; 8];
        v.copy_from_slice(&rec[8..]);
        out.push(u64::from_le_bytes(v));
    }
    Ok(out)
}

/// A pipe for records: (read end, write end), both close-on-exec (the
/// write end reaches children as their stdout).
pub fn record_pipe() -> Res<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx("pipe")
}

/// A process's memory, from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    /// `VmRSS`.
    pub rss: u64,
    /// `RssAnon`.
    pub anon: u64,
    /// `RssShmem` (touched pages of the memfds it maps).
    pub shmem: u64,
    /// Open fds.
    pub fds: u64,
}

/// Reads `pid`'s memory and fd count.
pub fn mem_of(pid: u32) -> Res<Mem> {
    let path = format!("/proc/{pid}/status");
    let s = std::fs::read_to_string(&path).ctx(&format!("reading {path}"))?;
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Ok(Mem {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        shmem: field("RssShmem:"),
        fds,
    })
}

/// Children that are sent SIGTERM together and reaped on drop (for the
/// hundreds of idle clients and subscribers, where the bench module's
/// `Helper`, one second per child at worst, would be slow).
#[derive(Default)]
pub struct Flock(pub Vec<Child>);

impl Flock {
    /// Their pids.
    pub fn pids(&self) -> Vec<u32> {
        self.0.iter().map(|c| c.id()).collect()
    }
}

impl Drop for Flock {
    fn drop(&mut self) {
        for c in &self.0 {
            if let Some(pid) = Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// The path of `name` on `$PATH`, if it is there.
#[cfg_attr(target_env = "musl", allow(dead_code))] // D-Bus only
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A process's CPU time (user and system, every thread it ever had, in
/// clock ticks from `/proc/PID/stat`), in nanoseconds.
pub fn process_cpu_ns(pid: u32) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which may hold spaces: the 3rd on.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| -> std::io::Result<f64> {
        rest.split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| std::io::Error::other(format!("/proc/{pid}/stat: no field {n}")))
    };
    let ticks = field(14)? + field(15)?;
    let per_s = rustix::param::clock_ticks_per_second() as f64;
    Ok(ticks * 1e9 / per_s)
}
