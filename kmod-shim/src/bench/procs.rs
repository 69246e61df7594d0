//! Processes for the benchmark: a private temporary directory, CPU pinning
//! (children inherit the affinity the orchestrator has when it spawns them,
//! so every thread they ever start is pinned too), helper children that die
//! with the orchestrator, and waiting for a child's `ready` line.

use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command};

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

use super::BenchError;

/// A directory only this user may enter, removed on drop. Its path is short
/// (`/tmp/cbrb.<pid>`), so socket paths inside it fit `sun_path`.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `/tmp/cbrb.<pid>` (mode 0700), replacing a stale one.
    pub fn new() -> Result<TempDir, BenchError> {
        let path = PathBuf::from(format!("/tmp/cbrb.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|source| BenchError::Io {
                what: format!("creating {}", path.display()),
                source,
            })?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The CPUs this process may run on, in increasing order.
pub fn allowed_cpus() -> Result<Vec<usize>, BenchError> {
    let set = sched_getaffinity(None).map_err(|e| BenchError::Io {
        what: "sched_getaffinity".into(),
        source: e.into(),
    })?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Pins the calling thread (and whatever it spawns from now on) to `cpu`.
pub fn pin_self(cpu: usize) -> Result<(), BenchError> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(|e| BenchError::Io {
        what: format!("sched_setaffinity(CPU {cpu})"),
        source: e.into(),
    })
}

/// Lets the calling thread (and whatever it spawns from now on) run on
/// every CPU in `cpus`.
pub fn unpin_self(cpus: &[usize]) -> Result<(), BenchError> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c);
    }
    sched_setaffinity(None, &set).map_err(|e| BenchError::Io {
        what: format!("sched_setaffinity(CPUs {cpus:?})"),
        source: e.into(),
    })
}

/// Spawns `cmd` pinned to `cpu`, then pins the caller back to `home`.
pub fn spawn_on(cpu: usize, home: usize, cmd: &mut Command) -> Result<Child, BenchError> {
    pin_self(cpu)?;
    let child = cmd.spawn();
    pin_self(home)?;
    child.map_err(|source| BenchError::Io {
        what: format!("spawning {:?}", cmd.get_program()),
        source,
    })
}

/// The orchestrator's pid, in every helper's environment.
const PARENT_ENV: &str = "CAPBINDER_RAWBENCH_PARENT";

/// A command that runs this very binary with a hidden subcommand.
pub fn self_command(role: &str) -> Result<Command, BenchError> {
    let exe = std::env::current_exe().map_err(|source| BenchError::Io {
        what: "finding this program (/proc/self/exe)".into(),
        source,
    })?;
    let mut cmd = Command::new(exe);
    cmd.arg(role)
        .env(PARENT_ENV, std::process::id().to_string());
    Ok(cmd)
}

/// A command that runs `program` through this binary's hidden
/// `with-parent` role, so that it gets SIGTERM when the orchestrator dies
/// (`PR_SET_PDEATHSIG` survives `execve`).
pub fn tied_command(program: &Path) -> Result<Command, BenchError> {
    let mut cmd = self_command("with-parent")?;
    cmd.arg("--").arg(program);
    Ok(cmd)
}

/// The hidden `with-parent` role: ask for SIGTERM at the parent's death,
/// then become `program`. Returns only on failure.
pub fn exec_tied(program: &Path, args: &[String]) -> BenchError {
    if let Err(e) = tie_to_parent() {
        return e;
    }
    let source = Command::new(program).args(args).exec();
    BenchError::Io {
        what: format!("executing {}", program.display()),
        source,
    }
}

/// `prctl(PR_SET_PDEATHSIG, SIGTERM)`, for every helper role: a helper
/// never outlives the orchestrator.
pub fn tie_to_parent() -> Result<(), BenchError> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM)).map_err(
        |e| BenchError::Io {
            what: "prctl(PR_SET_PDEATHSIG)".into(),
            source: e.into(),
        },
    )?;
    // The parent may have died before the prctl took effect.
    let parent = std::env::var(PARENT_ENV).ok();
    let now = rustix::process::getppid().map(|p| p.as_raw_nonzero().get().to_string());
    if parent.is_some() && parent != now {
        std::process::exit(1);
    }
    Ok(())
}

/// A helper child that is killed (and reaped) on drop.
#[derive(Debug)]
pub struct Helper {
    /// What it is, for messages.
    pub name: String,
    child: Child,
}

impl Helper {
    /// Wraps a spawned child.
    pub fn new(name: impl Into<String>, child: Child) -> Helper {
        Helper {
            name: name.into(),
            child,
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its role and pid for [`super::cost`]: the name in lowercase, one
    /// word (`echo server` is `echo-server`).
    pub fn role(&self) -> (String, u32) {
        let name: String = self
            .name
            .to_lowercase()
            .chars()
            .filter(|c| !matches!(c, '(' | ')'))
            .map(|c| if c.is_whitespace() { '-' } else { c })
            .collect();
        (name, self.pid())
    }

    /// The CPUs it may run on (to show that pinning took).
    pub fn cpus(&self) -> Vec<usize> {
        let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) else {
            return Vec::new();
        };
        match sched_getaffinity(Some(pid)) {
            Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Reads its stdout until a line containing `want`; fails if it closes
    /// stdout (exits) first.
    pub fn wait_line(&mut self, want: &str) -> Result<String, BenchError> {
        let out: ChildStdout =
            self.child.stdout.take().ok_or_else(|| {
                BenchError::Helper(format!("{}: stdout was not piped", self.name))
            })?;
        let mut reader = BufReader::new(out);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|source| BenchError::Io {
                    what: format!("reading {}'s output", self.name),
                    source,
                })?;
            if n == 0 {
                let status = self.child.wait().ok();
                return Err(BenchError::Helper(format!(
                    "{} exited before saying {want:?} ({})",
                    self.name,
                    status.map_or("status unknown".into(), |s| s.to_string())
                )));
            }
            if line.contains(want) {
                // Whatever it prints later is drained, so that it never
                // blocks on a full pipe nor gets SIGPIPE.
                std::thread::spawn(move || io::copy(&mut reader, &mut io::sink()));
                return Ok(line.trim_end().to_string());
            }
        }
    }
}

impl Drop for Helper {
    /// SIGTERM (a mediator then removes its socket; a tracer attached to
    /// it gets to print its summary), up to a second to exit, then SIGKILL.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while std::time::Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
