//! Benchmark support for `capbinder-rawbench`: raw synchronous round trips
//! through a real `capbinderd` with the device API (no runtime), and, in
//! the same run and with the same placement, the floors DESIGN.md asks for
//! ("Measuring"): a direct two-process `SOCK_SEQPACKET` ping-pong, and a
//! three-process relay (client → middle → server → middle → client) with a
//! blocking middle and with an io_uring middle; and, where the kernel has
//! the binder driver, kernel binder itself.
//!
//! Not part of the transport: nothing else in the crate uses this module.
//!
//! - [`stats`]: median, p99 and operations per second;
//! - [`interleave`]: cases taking turns, so that drift hits them alike;
//! - [`cost`]: CPU time and switches per round trip of each process
//!   (`--diagnostics`);
//! - [`procs`]: pinning, helper processes, the temporary directory (also
//!   used by `capbinder-bench`, in tests/bench);
//! - `floor`: the socket floors and their helper roles;
//! - `cb`: the capbinder case, its mediator and its server role;
//! - `kbinder`: the kernel binder case and its server role.
//!
//! Every case is a client (this process) making `iters` round trips of one
//! payload size, after a warm-up, each timed with `Instant` (the vDSO
//! `clock_gettime(CLOCK_MONOTONIC)`). The cases of one payload and
//! placement take turns, a tenth of their round trips at a time
//! ([`interleave`]), so that a ratio compares them on the same machine. The request and the reply are both
//! `payload` bytes; every mechanism's server echoes what it got.
//! Placements: `same` puts every process on the first allowed CPU; `split`
//! puts the client there and every other process on the second.

mod cb;
pub mod cost;
mod floor;
pub mod interleave;
pub mod kbinder;
pub mod procs;
pub mod stats;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

pub use cb::Loop;
use stats::Summary;

use crate::device::DeviceError;

/// The benchmark failed; the message says what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A syscall or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The capbinder device failed.
    #[error("capbinder device: {0}")]
    Device(#[from] DeviceError),
    /// A helper process misbehaved or a reply was wrong.
    #[error("{0}")]
    Helper(String),
    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),
}

/// The client's side of one mechanism: one round trip.
trait Rig {
    /// Sends `req`, waits for the answer, copies it into `resp` and returns
    /// its length.
    fn call(&mut self, req: &[u8], resp: &mut [u8]) -> Result<usize, BenchError>;

    /// Its other processes (a role name without spaces, and the pid), for
    /// [`cost`].
    fn helpers(&self) -> Vec<(String, u32)>;
}

/// A mechanism measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    /// Two processes on one socket pair.
    Direct,
    /// Three processes, blocking middle.
    RelayBlocking,
    /// Three processes, io_uring middle.
    RelayUring,
    /// capbinder through `capbinderd` with the given loop flag.
    Capbinder(Loop),
    /// The Linux binder driver, where the kernel has it.
    KernelBinder,
    /// Diagnostic: blocking relay with `TransactionComplete`-like acks.
    RelayAcked,
    /// Diagnostic: epoll relay reading until `EAGAIN`.
    RelayEpoll,
    /// Diagnostic: epoll relay with acks (the mediator's shape, no logic).
    RelayEpollAcked,
    /// Diagnostic: a blocking thread per direction in the middle.
    RelayThreaded,
}

impl Mech {
    /// Every mechanism, in the order each payload runs them.
    pub const ALL: [Mech; 6] = [
        Mech::Direct,
        Mech::RelayBlocking,
        Mech::RelayUring,
        Mech::KernelBinder,
        Mech::Capbinder(Loop::Epoll),
        Mech::Capbinder(Loop::Uring),
    ];

    /// The diagnostic mechanisms, run only with `--diagnostics` or when
    /// `--only` names them in full.
    pub const DIAGNOSTIC: [Mech; 4] = [
        Mech::RelayAcked,
        Mech::RelayEpoll,
        Mech::RelayEpollAcked,
        Mech::RelayThreaded,
    ];

    /// Its name in `RESULT` lines and for `--only`.
    pub fn name(self) -> &'static str {
        match self {
            Mech::RelayAcked => "relay-acked",
            Mech::RelayEpoll => "relay-epoll",
            Mech::RelayThreaded => "relay-threaded",
            Mech::RelayEpollAcked => "relay-epoll-acked",
            Mech::Direct => "direct",
            Mech::RelayBlocking => "relay-blocking",
            Mech::RelayUring => "relay-uring",
            Mech::Capbinder(Loop::Uring) => "capbinder-uring",
            Mech::Capbinder(Loop::Epoll) => "capbinder-epoll",
            Mech::KernelBinder => "kernel-binder",
        }
    }
}

/// Where the processes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Every process on one CPU.
    Same,
    /// The client on one CPU, every other process on another.
    Split,
    /// No pinning: every process may run on every CPU the benchmark may
    /// use. For multi-core scaling (`capbinder-bench`'s `callers` case on a
    /// machine with many CPUs); the latency cases do not run this way.
    Spread,
}

impl Placement {
    /// Its name in `RESULT` lines.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Same => "same",
            Placement::Split => "split",
            Placement::Spread => "spread",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Few iterations (a smoke test).
    pub quick: bool,
    /// Mechanism names or prefixes to run (empty: all but the diagnostic
    /// ones).
    pub only: Vec<String>,
    /// Also run the diagnostic relays.
    pub diagnostics: bool,
    /// Also write the results as JSON here.
    pub json: Option<PathBuf>,
    /// Measured iterations for payloads under 64 KiB (larger ones get a
    /// tenth); `None`: 20000, or 200 with `quick`.
    pub iters: Option<usize>,
    /// Payload sizes in bytes.
    pub payloads: Vec<usize>,
    /// Placements.
    pub placements: Vec<Placement>,
    /// The mediator binary; `None`: `capbinderd` next to this program.
    pub capbinderd: Option<PathBuf>,
    /// The two CPUs to use; `None`: the first two this process may use.
    pub cpus: Option<(usize, usize)>,
    /// The binder device for `kernel-binder`; `None`: that case is
    /// skipped (see `kbinder::unnamed_reason`).
    pub kbinder: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            quick: false,
            only: Vec::new(),
            diagnostics: false,
            json: None,
            iters: None,
            payloads: vec![32, 4096, 1 << 20],
            placements: vec![Placement::Same, Placement::Split],
            capbinderd: None,
            cpus: None,
            kbinder: None,
        }
    }
}

impl Options {
    fn selected(&self, m: Mech) -> bool {
        if Mech::DIAGNOSTIC.contains(&m) {
            return (self.diagnostics
                && (self.only.is_empty()
                    || self.only.iter().any(|o| m.name().starts_with(o.as_str()))))
                || self.only.iter().any(|o| o == m.name());
        }
        self.only.is_empty() || self.only.iter().any(|o| m.name().starts_with(o.as_str()))
    }

    /// The mechanisms to run, in order.
    fn mechs(&self) -> Vec<Mech> {
        Mech::ALL
            .iter()
            .chain(Mech::DIAGNOSTIC.iter())
            .copied()
            .filter(|&m| self.selected(m))
            .collect()
    }

    /// Measured iterations for one payload size.
    fn iters_for(&self, payload: usize) -> usize {
        let base = self.iters.unwrap_or(if self.quick { 200 } else { 20_000 });
        if payload >= 64 << 10 {
            (base / 10).max(20)
        } else {
            base.max(1)
        }
    }
}

/// One measured case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The mechanism.
    pub mech: Mech,
    /// The placement.
    pub placement: Placement,
    /// Payload bytes each way.
    pub payload: usize,
    /// The figures.
    pub summary: Summary,
}

impl CaseResult {
    /// The `RESULT` line.
    pub fn line(&self) -> String {
        let s = &self.summary;
        format!(
            "RESULT mech={} placement={} payload={} iters={} median_us={:.2} p99_us={:.2} ops_s={:.0}",
            self.mech.name(),
            self.placement.name(),
            self.payload,
            s.iters,
            s.median_ns as f64 / 1e3,
            s.p99_ns as f64 / 1e3,
            s.ops_s
        )
    }
}

/// Everything one run measured, with notes about the setup.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The cases, in the order they ran.
    pub results: Vec<CaseResult>,
    /// The CPUs used (client's first).
    pub cpus: Vec<usize>,
    /// Lines about the setup (loops seen, skipped mechanisms).
    pub notes: Vec<String>,
}

fn progress(msg: &str) {
    eprintln!("rawbench: {msg}");
}

/// Fills `buf` with a pattern that differs per seed: how every benchmark
/// client writes a fresh payload for each call (a real client sends new
/// data each time, and a capbinder client writes it in place), at the same
/// cost whatever the mechanism.
pub fn pattern(buf: &mut [u8], seed: u8) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
}

/// One round trip through `rig` as a measured case: a fresh payload
/// written into `req` first (the work a real client does per call), the
/// answer's length checked on every call and its bytes when `check` is set.
fn echo_case<'a>(
    rig: &'a mut dyn Rig,
    payload: usize,
    max_msg: usize,
) -> interleave::Case<'a, BenchError> {
    let mut req = vec![0u8; payload];
    let mut resp = vec![0u8; max_msg + 1];
    let mut seed = 0u8;
    Box::new(move |check| {
        seed = seed.wrapping_add(1);
        pattern(&mut req, seed);
        let n = rig.call(&req, &mut resp)?;
        if n != req.len() || (check && resp[..n] != *req) {
            return Err(BenchError::Helper(format!(
                "the echo came back wrong ({n} bytes for a {}-byte request)",
                req.len()
            )));
        }
        Ok(())
    })
}

/// The rigs of one placement, spawned once and used for every payload.
struct Rigs {
    list: Vec<(Mech, Box<dyn Rig>)>,
}

fn capbinderd_path(opts: &Options) -> Result<PathBuf, BenchError> {
    if let Some(p) = &opts.capbinderd {
        if !p.is_file() {
            return Err(BenchError::Usage(format!(
                "--capbinderd {}: no such file",
                p.display()
            )));
        }
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|source| BenchError::Io {
        what: "finding this program (/proc/self/exe)".into(),
        source,
    })?;
    let p = exe.with_file_name("capbinderd");
    if !p.exists() {
        return Err(BenchError::Usage(format!(
            "{} not found: build it (cargo build --release -p capbinder-kmod-shim --bins) or pass --capbinderd PATH",
            p.display()
        )));
    }
    Ok(p)
}

fn start_rigs(
    opts: &Options,
    placement: Placement,
    cpus: (usize, usize),
    dir: &Path,
    max_msg: usize,
    notes: &mut Vec<String>,
) -> Result<Rigs, BenchError> {
    let (home, far) = match placement {
        Placement::Same => (cpus.0, cpus.0),
        Placement::Split => (cpus.0, cpus.1),
        Placement::Spread => {
            return Err(BenchError::Usage(
                "the raw round trips run pinned (same or split), not spread".into(),
            ))
        }
    };
    procs::pin_self(home)?;
    let mut list: Vec<(Mech, Box<dyn Rig>)> = Vec::new();
    let pname = placement.name();
    for mech in opts.mechs() {
        match mech {
            Mech::Direct => {
                let r = floor::SocketRig::direct(max_msg, far, home)?;
                progress(&format!("{pname}: {}: {}", mech.name(), r.describe()));
                list.push((mech, Box::new(r)));
            }
            Mech::RelayBlocking => {
                let r =
                    floor::SocketRig::relay(max_msg, floor::Middle::Blocking, false, far, home)?;
                progress(&format!("{pname}: {}: {}", mech.name(), r.describe()));
                list.push((mech, Box::new(r)));
            }
            Mech::RelayUring => {
                if let Err(e) = crate::sys::uring_relay::available() {
                    let note = format!("relay-uring skipped: io_uring_setup failed ({e})");
                    progress(&note);
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    continue;
                }
                let r = floor::SocketRig::relay(max_msg, floor::Middle::Uring, false, far, home)?;
                progress(&format!("{pname}: {}: {}", mech.name(), r.describe()));
                list.push((mech, Box::new(r)));
            }
            Mech::RelayAcked | Mech::RelayEpoll | Mech::RelayEpollAcked | Mech::RelayThreaded => {
                let middle = match mech {
                    Mech::RelayAcked => floor::Middle::Blocking,
                    Mech::RelayThreaded => floor::Middle::Threaded,
                    _ => floor::Middle::Epoll,
                };
                let acked = matches!(mech, Mech::RelayAcked | Mech::RelayEpollAcked);
                let r = floor::SocketRig::relay(max_msg, middle, acked, far, home)?;
                progress(&format!("{pname}: {}: {}", mech.name(), r.describe()));
                list.push((mech, Box::new(r)));
            }
            Mech::KernelBinder => {
                let Some(device) = &opts.kbinder else {
                    let note = format!("kernel-binder skipped: {}", kbinder::unnamed_reason());
                    progress(&note);
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    continue;
                };
                match kbinder::KbRig::start(device, max_msg, far, home) {
                    Ok(r) => {
                        progress(&format!("{pname}: {}: {}", mech.name(), r.describe()));
                        list.push((mech, Box::new(r)));
                    }
                    // Most kernels have no binder driver: a note, not a failure.
                    Err(e) => {
                        let note = format!("kernel-binder skipped: {e}");
                        progress(&note);
                        if !notes.contains(&note) {
                            notes.push(note);
                        }
                    }
                }
            }
            Mech::Capbinder(which) => {
                if which == Loop::Uring {
                    // The mediator's own ring, so that what the kernel lacks
                    // (provided buffers, NODROP) shows here as a note.
                    if let Err(e) = crate::sys::uring::Ring::new(8, 1, 64) {
                        let note = format!("capbinder-uring skipped: no io_uring loop here ({e})");
                        progress(&note);
                        if !notes.contains(&note) {
                            notes.push(note);
                        }
                        continue;
                    }
                }
                let bin = capbinderd_path(opts)?;
                let sub = dir.join(pname);
                if !sub.exists() {
                    std::fs::create_dir(&sub).map_err(|source| BenchError::Io {
                        what: format!("creating {}", sub.display()),
                        source,
                    })?;
                }
                let r = cb::CbRig::start(&bin, &sub, which, max_msg, far, home)?;
                progress(&format!("{pname}: {}: {}", mech.name(), r.describe()));
                let note = format!(
                    "{}: the mediator's log names loop: {}",
                    mech.name(),
                    r.loop_seen
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
                let log = r.log();
                if !log.trim().is_empty() {
                    progress(&format!(
                        "{pname}: {} log: {}",
                        mech.name(),
                        log.trim().replace('\n', " | ")
                    ));
                }
                list.push((mech, Box::new(r)));
            }
        }
    }
    Ok(Rigs { list })
}

/// Rigs of one placement kept running for a benchmark that interleaves
/// them with cases of its own (`capbinder-bench` takes turns between the
/// floors, kernel binder and the runtime's cases, so that a ratio compares
/// them on the same machine).
pub struct FloorRigs {
    rigs: Rigs,
    max_msg: usize,
}

impl FloorRigs {
    /// Spawns `mechs` (floors or kernel binder; a mechanism that cannot
    /// run here is left out with a note), pinned for `placement`, for
    /// payloads up to `max_msg` bytes. Pins this process to the client's
    /// CPU.
    pub fn start(
        mechs: &[Mech],
        placement: Placement,
        cpus: (usize, usize),
        max_msg: usize,
        kbinder: Option<PathBuf>,
        notes: &mut Vec<String>,
    ) -> Result<FloorRigs, BenchError> {
        if let Some(m) = mechs.iter().find(|m| matches!(m, Mech::Capbinder(_))) {
            return Err(BenchError::Usage(format!(
                "FloorRigs runs floors and kernel binder, not {}",
                m.name()
            )));
        }
        let opts = Options {
            only: mechs.iter().map(|m| m.name().to_string()).collect(),
            kbinder,
            ..Options::default()
        };
        // Only capbinder's rigs use the directory.
        let rigs = start_rigs(
            &opts,
            placement,
            cpus,
            &std::env::temp_dir(),
            max_msg,
            notes,
        )?;
        Ok(FloorRigs { rigs, max_msg })
    }

    /// One measured case per rig for `payload` bytes (none above what the
    /// rigs were started for), as [`interleave::measure`] takes them.
    pub fn cases(&mut self, payload: usize) -> Vec<(Mech, interleave::Case<'_, BenchError>)> {
        if payload > self.max_msg {
            return Vec::new();
        }
        let max_msg = self.max_msg;
        self.rigs
            .list
            .iter_mut()
            .map(|(m, rig)| (*m, echo_case(rig.as_mut(), payload, max_msg)))
            .collect()
    }
}

/// Runs every selected case and prints `RESULT` lines (stdout) as they
/// finish, then returns the report (the caller prints the ratio table).
pub fn run(opts: &Options) -> Result<Report, BenchError> {
    let allowed = procs::allowed_cpus()?;
    let cpus = match opts.cpus {
        Some(c) => c,
        None => match allowed.as_slice() {
            [a, b, ..] => (*a, *b),
            [a] => (*a, *a),
            [] => return Err(BenchError::Usage("no CPU allowed".into())),
        },
    };
    let mut report = Report {
        cpus: vec![cpus.0, cpus.1],
        ..Report::default()
    };
    let mut placements = opts.placements.clone();
    if cpus.0 == cpus.1 && placements.contains(&Placement::Split) {
        placements.retain(|&p| p != Placement::Split);
        report
            .notes
            .push("split skipped: only one CPU is available".into());
    }
    let max_msg = opts.payloads.iter().copied().max().unwrap_or(32);
    if opts.payloads.contains(&0) {
        return Err(BenchError::Usage(
            "a payload of 0 bytes cannot travel as a SOCK_SEQPACKET message (it reads as end of file)"
                .into(),
        ));
    }
    let dir = procs::TempDir::new()?;
    if let Some(l) = loadavg() {
        report.notes.push(format!("load average at start: {l}"));
    }
    let selected = opts.mechs().len();
    let total = selected * placements.len() * opts.payloads.len();
    let mut done = 0;
    progress(&format!(
        "CPUs: client on {}, others on {} (split) / {} (same); {total} cases",
        cpus.0, cpus.1, cpus.0
    ));
    for &placement in &placements {
        let mut rigs = start_rigs(
            opts,
            placement,
            cpus,
            dir.path(),
            max_msg,
            &mut report.notes,
        )?;
        for &payload in &opts.payloads {
            let iters = opts.iters_for(payload);
            let mechs: Vec<Mech> = rigs.list.iter().map(|(m, _)| *m).collect();
            done += mechs.len();
            progress(&format!(
                "[{done}/{total}] {} {payload} B: {iters} iterations each of {}, interleaved",
                placement.name(),
                mechs
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let mut cases: Vec<_> = rigs
                .list
                .iter_mut()
                .map(|(_, rig)| echo_case(rig.as_mut(), payload, max_msg))
                .collect();
            let sums = interleave::measure(&mut cases, iters, interleave::rounds_for(iters))
                .map_err(|(i, e)| {
                    BenchError::Helper(format!("{} {}: {e}", mechs[i].name(), placement.name()))
                })?;
            drop(cases);
            for (mech, summary) in mechs.iter().copied().zip(sums) {
                let r = CaseResult {
                    mech,
                    placement,
                    payload,
                    summary,
                };
                println!("{}", r.line());
                report.results.push(r);
            }
            if opts.diagnostics {
                // Where the time went: each process's CPU time and the
                // switches per round trip, case by case.
                for (mech, rig) in rigs.list.iter_mut() {
                    let parts = cost::profile(rig.as_mut(), payload, max_msg, iters.min(5000))?;
                    print!("{}", cost::lines(*mech, placement.name(), payload, &parts));
                }
            }
        }
    }
    if let Some(l) = loadavg() {
        report.notes.push(format!(
            "load average at end: {l} (other work on these CPUs skews every figure)"
        ));
    }
    Ok(report)
}

/// `/proc/loadavg`'s first three fields.
fn loadavg() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// A ratio of medians, if both cases ran.
fn ratio(report: &Report, p: Placement, payload: usize, num: Mech, den: Mech) -> Option<f64> {
    let find = |m: Mech| {
        report
            .results
            .iter()
            .find(|r| r.mech == m && r.placement == p && r.payload == payload)
            .map(|r| r.summary.median_ns as f64)
    };
    let (a, b) = (find(num)?, find(den)?);
    (b > 0.0).then(|| a / b)
}

/// The ratio columns: (numerator, denominator).
const RATIOS: [(Mech, Mech); 7] = [
    (Mech::Capbinder(Loop::Epoll), Mech::RelayBlocking),
    (Mech::Capbinder(Loop::Uring), Mech::RelayBlocking),
    (Mech::Capbinder(Loop::Epoll), Mech::Direct),
    (Mech::Capbinder(Loop::Uring), Mech::Direct),
    (Mech::RelayBlocking, Mech::Direct),
    (Mech::RelayUring, Mech::Direct),
    (Mech::RelayUring, Mech::RelayBlocking),
];

/// The diagnostic ratio columns, shown when those relays ran.
const DIAG_RATIOS: [(Mech, Mech); 8] = [
    (Mech::RelayAcked, Mech::RelayBlocking),
    (Mech::RelayEpoll, Mech::RelayBlocking),
    (Mech::RelayEpollAcked, Mech::RelayBlocking),
    (Mech::RelayThreaded, Mech::RelayBlocking),
    (Mech::Capbinder(Loop::Epoll), Mech::RelayEpoll),
    (Mech::Capbinder(Loop::Uring), Mech::RelayEpollAcked),
    (Mech::Capbinder(Loop::Epoll), Mech::RelayEpollAcked),
    (Mech::Capbinder(Loop::Epoll), Mech::RelayAcked),
];

/// The kernel binder ratio columns, shown when it ran.
const KBINDER_RATIOS: [(Mech, Mech); 4] = [
    (Mech::Capbinder(Loop::Epoll), Mech::KernelBinder),
    (Mech::Capbinder(Loop::Uring), Mech::KernelBinder),
    (Mech::KernelBinder, Mech::Direct),
    (Mech::KernelBinder, Mech::RelayBlocking),
];

fn short(m: Mech) -> &'static str {
    match m {
        Mech::KernelBinder => "kbinder",
        Mech::RelayAcked => "acked",
        Mech::RelayEpoll => "ep",
        Mech::RelayThreaded => "thr",
        Mech::RelayEpollAcked => "ep-acked",
        Mech::Direct => "direct",
        Mech::RelayBlocking => "relay",
        Mech::RelayUring => "uring",
        Mech::Capbinder(Loop::Uring) => "cb-uring",
        Mech::Capbinder(Loop::Epoll) => "cb-epoll",
    }
}

/// The target from issue 4: capbinder at most this many times the
/// blocking relay at 32 bytes, in both placements.
pub const TARGET_VS_RELAY: f64 = 1.2;

/// The ratio table (medians over medians, like placements only) and the
/// target check, as printed after the `RESULT` lines.
pub fn ratio_table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "RATIOS (median / median; like placements only; relay = relay-blocking, uring = relay-uring, cb-uring = capbinder-uring (the io_uring loop), cb-epoll = capbinder-epoll (the default loop))"
    );
    let mut keys: Vec<(Placement, usize)> = Vec::new();
    for r in &report.results {
        if !keys.contains(&(r.placement, r.payload)) {
            keys.push((r.placement, r.payload));
        }
    }
    table(&mut out, report, &keys, &RATIOS);
    if report
        .results
        .iter()
        .any(|r| Mech::DIAGNOSTIC.contains(&r.mech))
    {
        let _ = writeln!(
            out,
            "DIAGNOSTIC RATIOS (acked = relay-acked, ep = relay-epoll, ep-acked = relay-epoll-acked, thr = relay-threaded)"
        );
        table(&mut out, report, &keys, &DIAG_RATIOS);
    }
    if report.results.iter().any(|r| r.mech == Mech::KernelBinder) {
        let _ = writeln!(
            out,
            "KERNEL BINDER RATIOS (kbinder = kernel-binder, the Linux binder driver)"
        );
        table(&mut out, report, &keys, &KBINDER_RATIOS);
    }
    for &(p, payload) in keys.iter().filter(|k| k.1 == 32) {
        for which in [Loop::Epoll, Loop::Uring] {
            if let Some(x) = ratio(
                report,
                p,
                payload,
                Mech::Capbinder(which),
                Mech::RelayBlocking,
            ) {
                let _ = writeln!(
                    out,
                    "TARGET capbinder-{}/relay-blocking placement={} payload=32: {x:.2} (target <= {TARGET_VS_RELAY}) {}{}",
                    which.label(),
                    p.name(),
                    if x <= TARGET_VS_RELAY { "MET" } else { "MISSED" },
                    if which == Loop::DEFAULT { " (the default loop)" } else { "" }
                );
            }
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "NOTE {n}");
    }
    out
}

fn table(out: &mut String, report: &Report, keys: &[(Placement, usize)], cols: &[(Mech, Mech)]) {
    let mut header = format!("{:<9} {:>8}", "placement", "payload");
    for &(a, b) in cols {
        header.push_str(&format!(" {:>16}", format!("{}/{}", short(a), short(b))));
    }
    let _ = writeln!(out, "{header}");
    for &(p, payload) in keys {
        let mut row = format!("{:<9} {:>8}", p.name(), payload);
        for &(a, b) in cols {
            let cell = ratio(report, p, payload, a, b).map_or("-".into(), |x| format!("{x:.2}"));
            row.push_str(&format!(" {cell:>16}"));
        }
        let _ = writeln!(out, "{row}");
    }
}

/// A ratio as the JSON holds it.
#[derive(serde::Serialize)]
struct JsonRatio<'a> {
    placement: &'a str,
    payload: usize,
    of: &'a str,
    to: &'a str,
    median_ratio: f64,
}

/// The JSON document.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    cpus: &'a [usize],
    results: Vec<stats::JsonRow<'a>>,
    ratios: Vec<JsonRatio<'a>>,
    notes: &'a [String],
}

/// The report as JSON: `{"cpus": [..], "results": [..], "ratios": [..],
/// "notes": [..]}`, times in microseconds.
pub fn to_json(report: &Report) -> String {
    let results = report
        .results
        .iter()
        .map(|r| {
            r.summary
                .json_row(r.mech.name(), r.placement.name(), r.payload)
        })
        .collect();
    let mut ratios = Vec::new();
    let mut seen: Vec<(Placement, usize)> = Vec::new();
    for r in &report.results {
        if seen.contains(&(r.placement, r.payload)) {
            continue;
        }
        seen.push((r.placement, r.payload));
        for (a, b) in RATIOS
            .iter()
            .chain(DIAG_RATIOS.iter())
            .chain(KBINDER_RATIOS.iter())
            .copied()
        {
            if let Some(x) = ratio(report, r.placement, r.payload, a, b) {
                ratios.push(JsonRatio {
                    placement: r.placement.name(),
                    payload: r.payload,
                    of: a.name(),
                    to: b.name(),
                    median_ratio: (x * 1e4).round() / 1e4,
                });
            }
        }
    }
    let doc = JsonReport {
        cpus: &report.cpus,
        results,
        ratios,
        notes: &report.notes,
    };
    // Plain data: serializing cannot fail (a non-finite number becomes
    // null).
    serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n"
}

/// The hidden helper roles the orchestrator re-executes itself as.
pub mod roles {
    pub use super::cb::serve_role as serve;
    pub use super::floor::{
        echo_role as echo, relay_role as relay, relay_uring_role as relay_uring,
    };
    pub use super::kbinder::serve_role as kbinder_serve;
    pub use super::procs::{exec_tied, tie_to_parent};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(mech: Mech, placement: Placement, payload: usize, median_ns: u64) -> CaseResult {
        CaseResult {
            mech,
            placement,
            payload,
            summary: Summary {
                iters: 10,
                median_ns,
                p99_ns: median_ns * 2,
                min_ns: median_ns / 2,
                mean_ns: median_ns as f64,
                ops_s: 1e9 / median_ns as f64,
            },
        }
    }

    #[test]
    fn result_line_has_the_documented_fields() {
        let r = case(Mech::RelayBlocking, Placement::Split, 4096, 12_345);
        assert_eq!(
            r.line(),
            "RESULT mech=relay-blocking placement=split payload=4096 iters=10 median_us=12.35 p99_us=24.69 ops_s=81004"
        );
    }

    #[test]
    fn ratios_compare_like_placements_only() {
        let report = Report {
            results: vec![
                case(Mech::Direct, Placement::Same, 32, 10_000),
                case(Mech::RelayBlocking, Placement::Same, 32, 20_000),
                case(Mech::Capbinder(Loop::Epoll), Placement::Same, 32, 30_000),
                case(Mech::RelayBlocking, Placement::Split, 32, 1_000),
            ],
            cpus: vec![0, 1],
            notes: vec!["a \"note\"".into()],
        };
        let p = Placement::Same;
        let cb = Mech::Capbinder(Loop::Epoll);
        assert_eq!(ratio(&report, p, 32, cb, Mech::RelayBlocking), Some(1.5));
        assert_eq!(
            ratio(&report, p, 32, Mech::RelayBlocking, Mech::Direct),
            Some(2.0)
        );
        assert_eq!(
            ratio(&report, Placement::Split, 32, cb, Mech::RelayBlocking),
            None
        );
        let table = ratio_table(&report);
        assert!(table.contains("TARGET capbinder-epoll/relay-blocking placement=same payload=32: 1.50 (target <= 1.2) MISSED (the default loop)"), "{table}");
        let json = to_json(&report);
        let doc: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let find = |list: &str, key: &str, name: &str| {
            doc[list]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r[key] == name).cloned())
                .unwrap_or_else(|| panic!("no {list} row with {key} {name}: {json}"))
        };
        assert_eq!(
            find("results", "mech", "capbinder-epoll")["median_us"],
            30.0
        );
        let r = find("ratios", "of", "capbinder-epoll");
        assert_eq!(
            (&r["to"], &r["median_ratio"]),
            (&"relay-blocking".into(), &1.5.into())
        );
        assert!(json.contains("a \\\"note\\\""), "{json}");
    }

    #[test]
    fn only_selects_by_prefix() {
        let opts = Options {
            only: vec!["capbinder".into(), "direct".into()],
            ..Options::default()
        };
        let names: Vec<_> = Mech::ALL
            .iter()
            .filter(|&&m| opts.selected(m))
            .map(|m| m.name())
            .collect();
        assert_eq!(names, ["direct", "capbinder-epoll", "capbinder-uring"]);
        let all: Vec<_> = Options::default()
            .mechs()
            .iter()
            .map(|m| m.name())
            .collect();
        assert_eq!(
            all,
            [
                "direct",
                "relay-blocking",
                "relay-uring",
                "kernel-binder",
                "capbinder-epoll",
                "capbinder-uring"
            ]
        );
        let diag = Options {
            only: vec!["relay".into()],
            diagnostics: true,
            ..Options::default()
        };
        assert_eq!(diag.mechs().len(), 6);
        let named = Options {
            only: vec!["relay-epoll-acked".into()],
            ..Options::default()
        };
        assert_eq!(named.mechs(), [Mech::RelayEpollAcked]);
    }

    #[test]
    fn mediator_config_holds_the_payload() {
        let text = config_for(1 << 20);
        let c = crate::mediator::config::Config::from_toml(&text, "bench").unwrap();
        assert!(c.limits.send_area >= (1 << 20));
        assert!(c.limits.recv_buffer >= 2 << 20);
    }

    fn config_for(n: usize) -> String {
        cb::config_toml(n)
    }
}
