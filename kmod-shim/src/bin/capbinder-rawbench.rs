//! `capbinder-rawbench`: raw synchronous round trips through a real
//! `capbinderd` with the device API (no runtime), beside a direct socket
//! ping-pong and a three-process relay (blocking and io_uring middles),
//! all in one run, pinned, like placements compared only.
//!
//! ```text
//! capbinder-rawbench [--quick] [--only NAME[,NAME]] [--diagnostics] [--json FILE]
//!                    [--iters N] [--payloads 32,4096,1048576]
//!                    [--placements same,split] [--cpus A,B]
//!                    [--capbinderd PATH] [--kbinder DEVICE]
//! ```
//!
//! Prints one `RESULT mech=… placement=… payload=… iters=… median_us=…
//! p99_us=… ops_s=…` line per case on stdout, then a ratio table; progress
//! goes to stderr. Mechanisms: `direct`, `relay-blocking`, `relay-uring`,
//! `capbinder-epoll` (`capbinderd --epoll`; `auto`, the default, is epoll
//! too), `capbinder-uring` (`CAPBINDER_LOOP=io_uring`; skipped with a note
//! where io_uring cannot start), `kernel-binder` (the Linux binder driver, on
//! the device named with `--kbinder DEVICE`; skipped with a note
//! otherwise); with `--diagnostics` also `relay-acked`, `relay-epoll`,
//! `relay-epoll-acked` and `relay-threaded`, relays shaped like the mediator
//! (see `bench::floor`), and `COST` lines: each process's CPU time and
//! context switches per round trip (see `bench::cost`). The hidden subcommands (`serve`, `kbinder-serve`,
//! `echo`, `relay`, `relay-uring`, `with-parent`) are the helper processes this
//! program starts as copies of itself.

use std::path::PathBuf;
use std::process::ExitCode;

use capbinder_kmod_shim::bench::{self, roles, Options, Placement};
use clap::{Parser, Subcommand};

/// Raw capbinder round trips against a direct socket and a relay.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// A few iterations per case (a smoke test for CI).
    #[arg(long)]
    quick: bool,
    /// Run only these mechanisms (names or prefixes, comma-separated):
    /// direct, relay-blocking, relay-uring, kernel-binder,
    /// capbinder-epoll, capbinder-uring.
    /// Diagnostic relays (relay-acked, relay-epoll, relay-epoll-acked,
    /// relay-threaded) run only with --diagnostics or when named in full.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also run the diagnostic relays, which copy the mediator's shape
    /// (acknowledgements, an epoll loop, a thread per socket) without its
    /// logic, and print where each case's time goes: a `COST` line per
    /// process with its CPU time, switches and preemptions per round trip.
    #[arg(long)]
    diagnostics: bool,
    /// Also write the results and ratios as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Measured iterations for payloads under 64 KiB; larger payloads get
    /// a tenth [default: 20000, or 200 with --quick].
    #[arg(long)]
    iters: Option<usize>,
    /// Payload sizes in bytes, each way.
    #[arg(long, value_delimiter = ',', default_values_t = [32usize, 4096, 1 << 20])]
    payloads: Vec<usize>,
    /// Placements: same (every process on one CPU), split (client on one,
    /// the rest on another).
    #[arg(long, value_delimiter = ',', default_values = ["same", "split"])]
    placements: Vec<String>,
    /// The two CPUs: the client's and the others' (default: the first two
    /// this process may run on).
    #[arg(long, value_delimiter = ',', num_args = 1)]
    cpus: Option<Vec<usize>>,
    /// The mediator binary (default: capbinderd next to this program).
    #[arg(long)]
    capbinderd: Option<PathBuf>,
    /// The binder device for kernel-binder (e.g. /dev/binder), of which the
    /// benchmark's server becomes the context manager; the driver then lets
    /// no other uid manage it until reboot. Without it, kernel-binder is
    /// skipped.
    #[arg(long)]
    kbinder: Option<PathBuf>,
    #[command(subcommand)]
    role: Option<Role>,
}

/// Helper processes: this program re-executed.
#[derive(Subcommand, Debug)]
enum Role {
    /// The capbinder server: claims handle 0 and echoes every call.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        max: usize,
    },
    /// The kernel binder server: the device's context manager, echoing.
    #[command(hide = true, name = "kbinder-serve")]
    KbinderServe {
        #[arg(long)]
        device: PathBuf,
        #[arg(long)]
        max: usize,
    },
    /// An echo server on the socket that is stdin.
    #[command(hide = true)]
    Echo {
        #[arg(long)]
        max: usize,
        #[arg(long)]
        acked: bool,
    },
    /// A relay between stdin (client) and stdout (server).
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
    /// An io_uring relay between stdin (client) and stdout (server).
    #[command(hide = true, name = "relay-uring")]
    RelayUring {
        #[arg(long)]
        max: usize,
    },
    /// Runs a program that gets SIGTERM when this program's parent dies.
    #[command(hide = true, name = "with-parent")]
    WithParent {
        program: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
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
            eprintln!("capbinder-rawbench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_role(role: Role) -> Result<(), bench::BenchError> {
    if let Role::WithParent { program, args } = role {
        return Err(roles::exec_tied(&program, &args));
    }
    roles::tie_to_parent()?;
    match role {
        Role::Serve { socket, max } => roles::serve(&socket, max),
        Role::KbinderServe { device, max } => roles::kbinder_serve(&device, max),
        Role::Echo { max, acked } => roles::echo(max, acked),
        Role::Relay {
            max,
            epoll,
            acked,
            threaded,
        } => roles::relay(max, epoll, acked, threaded),
        Role::RelayUring { max } => roles::relay_uring(max),
        Role::WithParent { .. } => unreachable!("handled above"),
    }
}

fn run_bench(cli: Cli) -> Result<(), bench::BenchError> {
    let placements = cli
        .placements
        .iter()
        .map(|p| match p.as_str() {
            "same" => Ok(Placement::Same),
            "split" => Ok(Placement::Split),
            other => Err(bench::BenchError::Usage(format!(
                "--placements {other:?}: expected same or split"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cpus = match cli.cpus.as_deref() {
        None => None,
        Some([a, b]) => Some((*a, *b)),
        Some(other) => {
            return Err(bench::BenchError::Usage(format!(
                "--cpus {other:?}: expected two CPUs, A,B"
            )))
        }
    };
    let opts = Options {
        quick: cli.quick,
        only: cli.only,
        diagnostics: cli.diagnostics,
        json: cli.json,
        iters: cli.iters,
        payloads: cli.payloads,
        placements,
        capbinderd: cli.capbinderd,
        cpus,
        kbinder: cli.kbinder,
    };
    let report = bench::run(&opts)?;
    print!("{}", bench::ratio_table(&report));
    if let Some(path) = &opts.json {
        std::fs::write(path, bench::to_json(&report)).map_err(|source| bench::BenchError::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
        eprintln!("rawbench: JSON written to {}", path.display());
    }
    Ok(())
}
