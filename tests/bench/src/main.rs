//! `capbinder-bench`: in one run on this machine, how capbinder compares
//! with what a user would use instead (issue 7).
//!
//! ```text
//! capbinder-bench [--quick] [--only NAME[,NAME]] [--json FILE]
//!                 [--payloads 32,4096,...] [--cpus A,B] [--iters N]
//!                 [--placements same,split] [--kbinder DEVICE]
//! ```
//!
//! Cases (names for `--only`, matched as prefixes):
//!
//! - `floor`: a two-process `SOCK_SEQPACKET` ping-pong (`direct`) and a
//!   three-process relay (`relay-blocking`), from
//!   `capbinder_kmod_shim::bench`;
//! - `kernel-binder`: the same echo through the Linux binder driver
//!   (`capbinder_kmod_shim::bench::kbinder`), on the device named with
//!   `--kbinder DEVICE`; skipped with a note otherwise.
//!   `tests/bench/vm/run-in-vm.sh` runs this binary in a guest whose
//!   kernel has the driver;
//! - `capbinder`: sync round trips through the runtime API
//!   (`Parcel::write_bytes`, `read_bytes` borrowed) at 32 B, 4 KiB,
//!   64 KiB, 1 MiB (inline) and 16 MiB (a sealed blob);
//! - `capbinder-aidl`: the same calls through a proxy and stub generated
//!   from `aidl/capbinder/bench/IBenchEcho.aidl` by `build.rs`;
//! - `dbus-daemon`, `dbus-broker`: the same calls through a private bus
//!   to a zbus server, from two client libraries: zbus (rows named after
//!   the daemon) and libdbus-1, the reference C library (`-libdbus`
//!   rows);
//! - `oneway`: capbinder oneway throughput (one sender, four senders)
//!   beside pipelined D-Bus calls (zbus and libdbus);
//! - `callers`: 1, 2, 8, 32 threads calling one service at once;
//! - `clients`: 1, 10, 100, 1000 connected client processes, the same
//!   load from one of them (taking turns with the relay floor, so that
//!   counts minutes apart compare over the floor measured beside each),
//!   and the mediator's memory per client;
//! - `topics`: publish to 1, 10, 100 subscribers, beside a D-Bus signal.
//!
//! Every case runs in two placements: `same` (every process on the first
//! CPU) and `split` (this process, the client, on the first; the rest on
//! the second). Compare only like placements. `--placements spread`
//! also runs `callers` with nothing pinned, every process free to use
//! every CPU this one may: how throughput scales on a machine with many
//! cores (the mediator is one thread). One line per case on
//! stdout, `RESULT mech=NAME placement=P payload=BYTES iters=N
//! median_us=X p99_us=Y ops_s=Z`, then ratio tables, `MEMORY` lines,
//! `TARGET` lines and notes; progress on stderr.
//!
//! Build and run (its own crate, outside the root workspace: zbus is
//! heavy; D-Bus cases need `dbus-daemon`, and `dbus-broker` where it is
//! packaged, and are skipped with a reason otherwise):
//!
//! ```text
//! cargo build --release --manifest-path tests/bench/Cargo.toml
//! tests/bench/target/release/capbinder-bench --json bench.json
//! ```
//!
//! A static binary (to run beside the kernel binder driver in a VM) has no
//! D-Bus client and says which cases it skipped:
//!
//! ```text
//! rustup target add x86_64-unknown-linux-musl
//! cargo build --release --manifest-path tests/bench/Cargo.toml --target x86_64-unknown-linux-musl
//! tests/bench/target/x86_64-unknown-linux-musl/release/capbinder-bench
//! ```
//!
//! Its large-payload figures are not comparable with the glibc build's:
//! the runtime allocates a fresh buffer per copy of a payload, and musl's
//! allocator maps and unmaps large blocks every time (page faults on
//! every call), where glibc's reuses them.
//!
//! The hidden subcommands are the helper processes: this binary
//! re-executed.

#![forbid(unsafe_code)]

mod broadcast;
mod cb;
#[cfg_attr(target_env = "musl", path = "nodbus.rs")]
mod dbus;
mod dbus_kinds;
mod report;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;

use capbinder_kmod_shim::bench::{self, procs, roles, Mech, Placement};
use clap::{Parser, Subcommand};

use report::{Report, Row};
use util::{progress, Res};

/// capbinder against a direct socket, a relay and D-Bus, in one run.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Few iterations and fewer clients (a smoke test: well under a
    /// minute).
    #[arg(long)]
    quick: bool,
    /// Run only these cases (comma-separated names or prefixes): floor,
    /// kernel-binder, capbinder, capbinder-aidl, dbus-daemon, dbus-broker
    /// (each with both clients, zbus and libdbus), oneway, callers,
    /// clients, topics. A full name selects that case alone.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Payload sizes of the sync round trips, in bytes [default:
    /// 32,4096,65536,1048576,16777216].
    #[arg(long, value_delimiter = ',')]
    payloads: Option<Vec<usize>>,
    /// The two CPUs: the client's and the rest's (default: the first two
    /// this process may use).
    #[arg(long, value_delimiter = ',', num_args = 1)]
    cpus: Option<Vec<usize>>,
    /// Placements (comma-separated): same (every process on one CPU),
    /// split (the client on one, the rest on another) [default:
    /// same,split]; spread runs only the `callers` case, with nothing
    /// pinned (multi-core scaling).
    #[arg(long, value_delimiter = ',', value_parser = ["same", "split", "spread"])]
    placements: Option<Vec<String>>,
    /// Round trips of a sync case of at most 4 KiB (larger payloads get
    /// proportionally fewer) [default: 20000, or 200 with --quick].
    #[arg(long)]
    iters: Option<usize>,
    /// The binder device for kernel-binder (e.g. /dev/binder), of which the
    /// benchmark's server becomes the context manager; the driver then lets
    /// no other uid manage it until reboot. Without it, kernel-binder is
    /// skipped.
    #[arg(long)]
    kbinder: Option<PathBuf>,
    /// End the run, with the mediator's state on stderr and exit status 3,
    /// when no case makes progress for this many seconds [default: 600,
    /// or 120 with --quick].
    #[arg(long, value_name = "SECS")]
    stall_timeout: Option<u64>,
    /// The mediator's event loop for the capbinder cases (the mediator's
    /// `event_loop` key): auto (its default, epoll), epoll, io_uring.
    #[arg(long, value_name = "LOOP", default_value = "auto", value_parser = ["auto", "epoll", "io_uring", "uring"])]
    event_loop: String,
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Floor: echo server on stdin.
    #[command(hide = true)]
    Echo {
        #[arg(long)]
        max: usize,
        #[arg(long)]
        acked: bool,
    },
    /// Floor: relay between stdin and stdout.
    #[command(hide = true)]
    Relay {
        #[arg(long)]
        max: usize,
        #[arg(long)]
        epoll: bool,
        #[arg(long)]
        acked: bool,
        #[arg(long)]
        threaded: bool,
    },
    /// Kernel binder: the device's context manager, echoing.
    #[command(hide = true, name = "kbinder-serve")]
    KbinderServe {
        #[arg(long)]
        device: PathBuf,
        #[arg(long)]
        max: usize,
    },
    /// Floor: io_uring relay.
    #[command(hide = true, name = "relay-uring")]
    RelayUring {
        #[arg(long)]
        max: usize,
    },
    /// Runs a program that dies with this program's parent.
    #[command(hide = true, name = "with-parent")]
    WithParent {
        program: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The mediator.
    #[command(hide = true)]
    Mediator {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, default_value = "auto")]
        event_loop: String,
    },
    /// The service manager.
    #[command(hide = true)]
    Sm {
        #[arg(long)]
        socket: PathBuf,
    },
    /// The echo service.
    #[command(hide = true)]
    Service {
        #[arg(long)]
        socket: PathBuf,
    },
    /// An idle connected client.
    #[command(hide = true)]
    Idle {
        #[arg(long)]
        socket: PathBuf,
    },
    /// A topic subscriber.
    #[command(hide = true, name = "cb-sub")]
    CbSub {
        #[arg(long)]
        socket: PathBuf,
    },
    /// The zbus echo server.
    #[command(hide = true, name = "dbus-serve")]
    DbusServe {
        #[arg(long)]
        address: String,
    },
    /// A zbus signal subscriber.
    #[command(hide = true, name = "dbus-sub")]
    DbusSub {
        #[arg(long)]
        address: String,
    },
    /// dbus-broker-launch in a private mount namespace.
    #[command(hide = true, name = "broker-ns")]
    BrokerNs {
        #[arg(long)]
        launch: PathBuf,
        #[arg(long = "config-file")]
        config: PathBuf,
    },
    /// dbus-broker-launch with the listening socket as fd 3.
    #[command(hide = true, name = "broker-exec")]
    BrokerExec {
        #[arg(long)]
        launch: PathBuf,
        #[arg(long = "config-file")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.role {
        Some(role) => run_role(role),
        None => run_bench(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capbinder-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_role(role: Role) -> Res<()> {
    if let Role::WithParent { program, args } = role {
        return Err(roles::exec_tied(&program, &args).to_string());
    }
    roles::tie_to_parent().map_err(|e| e.to_string())?;
    let b = |r: Result<(), bench::BenchError>| r.map_err(|e| e.to_string());
    match role {
        Role::Echo { max, acked } => b(roles::echo(max, acked)),
        Role::Relay {
            max,
            epoll,
            acked,
            threaded,
        } => b(roles::relay(max, epoll, acked, threaded)),
        Role::RelayUring { max } => b(roles::relay_uring(max)),
        Role::KbinderServe { device, max } => b(roles::kbinder_serve(&device, max)),
        Role::WithParent { .. } => unreachable!("handled above"),
        Role::Mediator { socket, event_loop } => cb::mediator_role(&socket, &event_loop),
        Role::Sm { socket } => cb::sm_role(&socket),
        Role::Service { socket } => cb::service_role(&socket),
        Role::Idle { socket } => cb::idle_role(&socket),
        Role::CbSub { socket } => cb::sub_role(&socket),
        Role::DbusServe { address } => dbus::serve_role(&address),
        Role::DbusSub { address } => dbus::sub_role(&address),
        Role::BrokerNs { launch, config } => dbus::broker_ns_role(&launch, &config),
        Role::BrokerExec { launch, config } => dbus::broker_exec_role(&launch, &config),
    }
}

/// What to run, and how much.
pub struct Plan {
    /// `--quick`.
    pub quick: bool,
    /// (client's CPU, the rest's CPU).
    pub cpus: (usize, usize),
    /// Placements to run (same, split).
    pub placements: Vec<Placement>,
    /// `spread` was asked for: `callers` also runs unpinned on these CPUs
    /// (every CPU this process may use), else empty.
    pub spread: Vec<usize>,
    /// Sync payloads.
    pub payloads: Vec<usize>,
    /// Connected clients.
    pub clients: Vec<usize>,
    /// Topic subscribers.
    pub subs: Vec<usize>,
    /// Messages per throughput burst.
    pub burst: usize,
    /// Iterations of a small (32 B) latency case.
    pub iters_small: usize,
    /// `--iters`: round trips of a sync case of at most 4 KiB.
    iters_sync: Option<usize>,
    /// `--kbinder`.
    kbinder: Option<PathBuf>,
    only: Vec<String>,
}

impl Plan {
    /// The CPU of everything but the client.
    pub fn far(&self, p: Placement) -> usize {
        match p {
            Placement::Same => self.cpus.0,
            Placement::Split => self.cpus.1,
            // Spread pins nothing (`Setup::place_on`); where a CPU must be
            // named all the same, the client's.
            Placement::Spread => self.cpus.0,
        }
    }

    /// Where the helpers start: the first placement's CPU.
    pub fn start_cpu(&self) -> usize {
        self.placements
            .first()
            .map_or(self.cpus.0, |&p| self.far(p))
    }

    fn iters(&self, payload: usize) -> usize {
        let (small, mid, large, huge) = match (self.iters_sync, self.quick) {
            (Some(n), _) => (n, n.div_ceil(4), n.div_ceil(40), n.div_ceil(500)),
            (None, true) => (200, 100, 20, 4),
            (None, false) => (20_000, 5_000, 500, 40),
        };
        match payload {
            p if p <= 4096 => small,
            p if p <= 64 << 10 => mid,
            p if p <= 1 << 20 => large,
            _ => huge,
        }
    }

    /// Messages in a topic throughput burst with `n` subscribers.
    pub fn burst_for(&self, n: usize) -> usize {
        if n > 10 {
            self.burst / 5
        } else {
            self.burst
        }
    }

    /// Iterations of a topic latency case with `n` subscribers.
    pub fn topic_iters(&self, n: usize) -> usize {
        match (self.quick, n) {
            (true, n) if n > 10 => 20,
            (true, _) => 50,
            (false, n) if n > 10 => 500,
            (false, _) => 2_000,
        }
    }

    /// Whether `--only` asks for `group`: a case's full name selects that
    /// case alone (`capbinder`, not `capbinder-aidl`); anything else is a
    /// prefix.
    fn wants(&self, group: &str) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|o| {
                o == group || (!KNOWN.contains(&o.as_str()) && group.starts_with(o.as_str()))
            })
    }
}

/// The case names `--only` takes.
const KNOWN: [&str; 10] = [
    "floor",
    "kernel-binder",
    "capbinder",
    "capbinder-aidl",
    "dbus-daemon",
    "dbus-broker",
    "oneway",
    "callers",
    "clients",
    "topics",
];

fn run_bench(cli: Cli) -> Res<()> {
    let cli_event_loop = cli.event_loop.clone();
    let stall = cli
        .stall_timeout
        .unwrap_or(if cli.quick { 120 } else { 600 });
    if stall == 0 {
        return Err("--stall-timeout: at least one second".into());
    }
    util::start_watchdog(std::time::Duration::from_secs(stall), cb::state_report);
    for o in &cli.only {
        if !KNOWN.iter().any(|k| k.starts_with(o.as_str())) {
            return Err(format!(
                "--only {o:?}: no such case; cases: {}",
                KNOWN.join(", ")
            ));
        }
    }
    let allowed = procs::allowed_cpus().map_err(|e| e.to_string())?;
    let cpus = match cli.cpus.as_deref() {
        Some([a, b]) => (*a, *b),
        Some(other) => return Err(format!("--cpus {other:?}: expected two CPUs, A,B")),
        None => match allowed.as_slice() {
            [a, b, ..] => (*a, *b),
            [a] => (*a, *a),
            [] => return Err("no CPU allowed".into()),
        },
    };
    let mut report = Report {
        cpus,
        ..Report::default()
    };
    let mut placements = match cli.placements.as_deref() {
        None => vec![Placement::Same, Placement::Split],
        Some(names) => [Placement::Same, Placement::Split]
            .into_iter()
            .filter(|p| names.iter().any(|n| n == p.name()))
            .collect(),
    };
    if cli.iters == Some(0) {
        return Err("--iters: at least one round trip".into());
    }
    if cpus.0 == cpus.1 && placements.contains(&Placement::Split) {
        placements.retain(|&p| p == Placement::Same);
        report.note("split skipped: only one CPU is available");
    }
    let spread = match cli.placements.as_deref() {
        Some(names) if names.iter().any(|n| n == "spread") => allowed.clone(),
        _ => Vec::new(),
    };
    if placements.is_empty() && spread.is_empty() {
        return Err("--placements: split needs two CPUs, and only one is available".into());
    }
    if cli
        .payloads
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.contains(&0))
    {
        return Err("--payloads: sizes of at least one byte".into());
    }
    let plan = Plan {
        quick: cli.quick,
        cpus,
        placements,
        spread,
        payloads: cli
            .payloads
            .clone()
            .unwrap_or_else(|| vec![32, 4096, 64 << 10, 1 << 20, 16 << 20]),
        clients: if cli.quick {
            vec![1, 10, 100]
        } else {
            vec![1, 10, 100, 1000]
        },
        subs: if cli.quick {
            vec![1, 10]
        } else {
            vec![1, 10, 100]
        },
        burst: if cli.quick { 200 } else { 5_000 },
        iters_small: if cli.quick { 200 } else { 20_000 },
        iters_sync: cli.iters,
        kbinder: cli.kbinder,
        only: cli.only,
    };
    if plan.quick {
        report.note("--quick: few iterations, clients up to 100 (not 1000), topics up to 10 subscribers, no 16 MiB D-Bus calls; figures are a smoke test only");
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        report.note(format!(
            "load average at start: {}",
            l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        ));
    }
    let home = cpus.0;
    procs::pin_self(home).map_err(|e| e.to_string())?;
    let dir = util::TempDir::new()?;

    let mut setup = None;
    if [
        "capbinder",
        "capbinder-aidl",
        "oneway",
        "callers",
        "clients",
        "topics",
    ]
    .iter()
    .any(|g| plan.wants(g))
    {
        setup = Some(cb::Setup::start(
            &cli_event_loop,
            dir.path(),
            plan.start_cpu(),
            home,
            &mut report,
        )?);
        report.note(
            "every sync client writes a fresh payload for each call (a byte pattern seeded by the call), timed: the socket clients and D-Bus into a buffer they then send, the capbinder client in place in its send area (Parcel::in_send_area, write_bytes_with). Copies per round trip, inline payloads: capbinder 2, the mediator's send area to the echo's receive buffer, then the echo's forward_bytes splice from its receive buffer to the client's; both ends read in place (read_bytes borrows). The direct socket makes 4 (into and out of the kernel, each way). 16 MiB goes as a sealed blob: the parcel is copied into a memfd each way, mapped read-only by the receiver, read_bytes borrows the mapping",
        );
    }
    let mut buses = Vec::new();
    for d in [dbus::Daemon::DbusDaemon, dbus::Daemon::Broker] {
        if !(plan.wants(d.name()) || plan.wants("oneway") || plan.wants("topics")) {
            continue;
        }
        match dbus::Bus::start(d, dir.path(), plan.start_cpu(), home) {
            Ok(b) => {
                progress(&format!("{} up at {}", d.name(), b.address()));
                for client in dbus::Client::ALL {
                    if let Some(why) = b.unavailable(client) {
                        report.note(format!("{} cases skipped: {why}", b.sync_mech(client)));
                    }
                }
                buses.push(b);
            }
            Err(e) => report.note(format!("{} cases skipped: {e}", d.name())),
        }
    }

    // Sync round trips.
    for &p in &plan.placements.clone() {
        let far = plan.far(p);
        if let Some(s) = &setup {
            s.place(far)?;
        }
        for b in &buses {
            b.place(far)?;
        }
        // The floors and kernel binder of this placement, spawned once and
        // used for every payload.
        let mut floors = Vec::new();
        let biggest = plan.payloads.iter().copied().max().unwrap_or(32);
        if plan.wants("floor") {
            let max = biggest.min(1 << 20);
            floors.push(floor_rigs(
                &plan,
                p,
                &[Mech::Direct, Mech::RelayBlocking],
                max,
                &mut report,
            ));
        }
        if plan.wants("kernel-binder") {
            let max = biggest.min(bench::kbinder::MAX_PAYLOAD);
            floors.push(floor_rigs(
                &plan,
                p,
                &[Mech::KernelBinder],
                max,
                &mut report,
            ));
        }
        procs::pin_self(home).map_err(|e| e.to_string())?;
        for &payload in &plan.payloads {
            let iters = plan.iters(payload);
            if plan.wants("floor") && payload > 1 << 20 {
                report.note(format!(
                    "floors: {payload} B is not run (one SOCK_SEQPACKET message would need a socket buffer that large)"
                ));
            }
            if plan.wants("kernel-binder") && payload > bench::kbinder::MAX_PAYLOAD {
                report.note(format!(
                    "kernel-binder: {payload} B is not run (the driver maps at most 4 MiB per process)"
                ));
            }
            // The floors, kernel binder, and capbinder through the runtime
            // API and through generated code take turns, a tenth of their
            // round trips at a time, so that their ratios compare them on
            // the same machine.
            let mut names: Vec<String> = Vec::new();
            let mut cases: Vec<bench::interleave::Case<'_, String>> = Vec::new();
            for rigs in floors.iter_mut().flatten() {
                for (mech, mut case) in rigs.cases(payload) {
                    names.push(mech.name().to_string());
                    cases.push(Box::new(move |check| {
                        case(check).map_err(|e| e.to_string())
                    }));
                }
            }
            if let Some(s) = setup.as_ref() {
                if plan.wants("capbinder") {
                    names.push("capbinder".into());
                    cases.push(Box::new(s.sync_call(payload)));
                    // The same calls kept on the mediator's path: what the
                    // mediator itself costs, next to what a user gets.
                    names.push("capbinder-mediated".into());
                    cases.push(Box::new(s.mediated_call(payload)));
                }
                if plan.wants("capbinder-aidl") {
                    names.push("capbinder-aidl".into());
                    cases.push(Box::new(s.aidl_call(payload)));
                }
            }
            if !cases.is_empty() {
                progress(&format!(
                    "{} {payload} B: {iters} round trips each of {}, interleaved",
                    p.name(),
                    names.join(", ")
                ));
                let sums = bench::interleave::measure(
                    &mut cases,
                    iters,
                    bench::interleave::rounds_for(iters),
                )
                .map_err(|(i, e)| format!("{} {payload} B: {e}", names[i]))?;
                drop(cases);
                for (mech, s) in names.into_iter().zip(sums) {
                    report.push(Row {
                        mech,
                        placement: p,
                        payload,
                        s,
                    });
                }
            }
            for b in &buses {
                if !plan.wants(b.daemon().name()) || (plan.quick && payload > 1 << 20) {
                    continue;
                }
                // Both client libraries, taking turns like the cases above.
                let mut names = Vec::new();
                let mut cases: Vec<bench::interleave::Case<'_, String>> = Vec::new();
                for client in b.clients() {
                    names.push(b.sync_mech(client));
                    cases.push(Box::new(b.sync_call(client, payload)));
                }
                progress(&format!(
                    "{} {payload} B: {iters} round trips each of {}, interleaved",
                    p.name(),
                    names.join(", ")
                ));
                let rounds = bench::interleave::rounds_for(iters);
                match bench::interleave::measure(&mut cases, iters, rounds) {
                    Ok(sums) => {
                        for (mech, s) in names.into_iter().zip(sums) {
                            report.push(Row {
                                mech,
                                placement: p,
                                payload,
                                s,
                            });
                        }
                    }
                    Err((i, e)) => {
                        report.note(format!("{} {} {payload} B failed: {e}", names[i], p.name()))
                    }
                }
            }
        }
    }

    // Oneway throughput, pipelined D-Bus.
    if plan.wants("oneway") {
        let total = if plan.quick { 2_000 } else { 100_000 };
        for &p in &plan.placements.clone() {
            let far = plan.far(p);
            if let Some(s) = &mut setup {
                s.place(far)?;
                // Each call waiting for its answer (libbinder's way), then
                // a window of 64 in flight, as the D-Bus clients below.
                for (window, senders) in [(0usize, 1usize), (0, 4), (64, 1), (64, 4)] {
                    let mech = match window {
                        0 => format!("capbinder-oneway-x{senders}"),
                        w => format!("capbinder-oneway-w{w}-x{senders}"),
                    };
                    progress(&format!("{} {mech}: {total} calls", p.name()));
                    let (sum, refused) = match s.oneway_case(senders, total, window) {
                        Ok(x) => x,
                        Err(e) => {
                            report.note(format!("{mech} {} failed: {e}", p.name()));
                            continue;
                        }
                    };
                    report.push(Row {
                        mech: mech.clone(),
                        placement: p,
                        payload: 32,
                        s: sum,
                    });
                    if refused > 0 {
                        report.note(format!(
                            "{mech} {}: the mediator refused {refused} sends (async space or pending limit full); each was retried",
                            p.name()
                        ));
                    }
                }
            }
            for b in &buses {
                b.place(far)?;
                let window = 64;
                for client in b.clients() {
                    let mech = format!("{}-pipelined", b.sync_mech(client));
                    progress(&format!(
                        "{} {mech} (window {window}): {total} calls",
                        p.name()
                    ));
                    match b.pipelined_case(client, total, window) {
                        Ok(s) => report.push(Row {
                            mech,
                            placement: p,
                            payload: 32,
                            s,
                        }),
                        Err(e) => report.note(format!("{mech} {} failed: {e}", p.name())),
                    }
                }
            }
        }
        report.note("oneway: samples are each send until the mediator accepted it (capbinder-oneway-w64: until it was written, with up to 64 in flight per thread, ProcessState::set_oneway_window); ops_s counts calls the service ran (a sync drain call ends the clock). D-Bus pipelined: up to 64 calls in flight; samples are send to reply");
    }

    let mut failed = false;
    if let Some(s) = &setup {
        if plan.wants("callers") {
            let total = if plan.quick { 1_000 } else { 40_000 };
            let spread = (!plan.spread.is_empty()).then_some(Placement::Spread);
            for p in plan.placements.iter().copied().chain(spread) {
                if p == Placement::Spread {
                    s.place_on(&plan.spread)?;
                    procs::unpin_self(&plan.spread).map_err(|e| e.to_string())?;
                } else {
                    s.place(plan.far(p))?;
                }
                for k in [1usize, 2, 8, 32] {
                    progress(&format!(
                        "{} capbinder {k} concurrent callers: {total} calls",
                        p.name()
                    ));
                    let (sum, busy) = match s.callers_case(k, total) {
                        Ok(x) => x,
                        Err(e) => {
                            report.note(format!("capbinder-callers-{k} {} failed: {e}", p.name()));
                            continue;
                        }
                    };
                    report.note(format!(
                        "capbinder-callers-{k} {}: the mediator was on a CPU {:.0}% of the run ({:.1} us per call), the echo service {:.0}% (all its threads)",
                        p.name(),
                        busy.mediator * 100.0,
                        busy.mediator_ns_per_call / 1000.0,
                        busy.service * 100.0
                    ));
                    report.push(Row {
                        mech: format!("capbinder-callers-{k}"),
                        placement: p,
                        payload: 32,
                        s: sum,
                    });
                }
            }
            if spread.is_some() {
                // Back to the pinning every other case expects.
                procs::pin_self(home).map_err(|e| e.to_string())?;
                if let Some(&p) = plan.placements.first() {
                    s.place(plan.far(p))?;
                }
                report.note(format!(
                    "callers spread: nothing pinned, every process free to use CPUs {:?}; the mediator is one thread",
                    plan.spread
                ));
            }
            report.note("callers: threads of this process, each with its own thread channel, calling the one echo service (15 pool threads at most)");
        }
        if plan.wants("clients") {
            let mut floors: Vec<_> = plan
                .placements
                .iter()
                .map(|&p| {
                    (
                        p,
                        floor_rigs(&plan, p, &[Mech::RelayBlocking], 64, &mut report),
                    )
                })
                .collect();
            procs::pin_self(home).map_err(|e| e.to_string())?;
            if let Err(e) = cb::clients_group(s, &plan, &mut floors, &mut report) {
                report.note(format!("clients failed: {e}"));
                failed = true;
            }
            report.note("clients: the extra clients are processes that connected, registered a thread and hold a proxy to the echo service, then sleep; per_client_kib = (mediator VmRSS with N clients - with 1) / (N - 1)");
        }
        if plan.wants("topics") {
            let topics = cb::Topics::new(s);
            if let Err(e) = topics.and_then(|t| broadcast::group(&t, &plan, &mut report)) {
                report.note(format!("capbinder topics failed: {e}"));
                failed = true;
            }
            for b in &buses {
                if let Err(e) = broadcast::group(b, &plan, &mut report) {
                    report.note(format!("{} signals failed: {e}", b.daemon().name()));
                    failed = true;
                }
            }
            report.note("topics: latency = publish until every subscriber has acknowledged it on a shared pipe (one 16-byte write each); tput: a burst, until every subscriber has the last message; ops_s = messages per second delivered to all");
        }
    }
    #[cfg(target_env = "musl")]
    report.note(
        "static musl build: D-Bus cases skipped (neither zbus nor libdbus is linked into it)",
    );

    print!("{}", report.table());
    if let Some(path) = &cli.json {
        std::fs::write(path, report.json())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        progress(&format!("JSON written to {}", path.display()));
    }
    drop(buses);
    drop(setup);
    let failures = report
        .notes
        .iter()
        .filter(|n| n.contains(" failed: "))
        .count();
    if failed || failures > 0 {
        return Err(format!("{failures} case(s) failed (see the NOTE lines)"));
    }
    Ok(())
}

/// Floor or kernel-binder rigs for placement `p` and payloads up to
/// `max_msg`, each group started on its own so that one that cannot run
/// here loses only its rows (with a note).
fn floor_rigs(
    plan: &Plan,
    p: Placement,
    mechs: &[Mech],
    max_msg: usize,
    report: &mut Report,
) -> Option<bench::FloorRigs> {
    let mut notes = Vec::new();
    let rigs = bench::FloorRigs::start(
        mechs,
        p,
        plan.cpus,
        max_msg,
        plan.kbinder.clone(),
        &mut notes,
    );
    for n in notes.into_iter().filter(|n| n.starts_with("kernel-binder")) {
        report.note(n);
    }
    match rigs {
        Ok(r) => Some(r),
        Err(e) => {
            let names: Vec<_> = mechs.iter().map(|m| m.name()).collect();
            report.note(format!("{} {} skipped: {e}", names.join(", "), p.name()));
            None
        }
    }
}
