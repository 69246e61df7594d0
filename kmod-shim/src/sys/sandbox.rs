//! The sandbox's spawn: one `clone3` and the confinement steps the child
//! runs before it executes an app. One [`Spawned`] per app process.
//!
//! The launcher describes the app in a [`SandboxSpec`]; [`spawn`] turns it
//! into a [`Plan`] (every path a `CString`, every pointer array built, the
//! Landlock ruleset and the seccomp programs made), then clones. The child
//! of a `clone3` from a multithreaded process (a launcher with a binder
//! thread pool, a test harness) may not allocate or take a lock another
//! thread could hold, so it only walks the plan and makes plain syscalls
//! (raw `syscall(2)` for the credential calls, whose libc wrappers signal
//! the parent's threads); on the first failure it writes the step's index
//! and the errno to a close-on-exec pipe and exits 127. The parent reads
//! the pipe: end-of-file means `execve` succeeded.
//!
//! The steps, in the order [`Plan::steps`] lists and the tests check:
//!
//! 1. `clone3(CLONE_NEWNS | CLONE_NEWIPC [| CLONE_NEWNET] | CLONE_PIDFD
//!    [| CLONE_INTO_CGROUP])`: new mount and IPC namespaces, a new network
//!    namespace unless the app may use the network, born inside its cgroup
//!    (so it is never outside it, and joining is no separate step), and a
//!    pidfd for the launcher. No PID namespace: the mediator checks thread
//!    ids, sender pids and PI futexes in the global view.
//! 2. signals: an empty mask, and every ignored signal back to its default
//!    (an ignored signal would stay ignored across `execve`).
//! 3. mounts: everything private (`MS_REC | MS_PRIVATE`), a small tmpfs on
//!    the staging directory, its directories, mount-point files and
//!    symlinks, the bind mounts (read-only, `nosuid`, `nodev`; data
//!    directories also `noexec`; device nodes `noexec`), the tmpfs made
//!    read-only, then `pivot_root` onto it and the old root detached.
//! 4. `/proc`: a fresh procfs, `hidepid=invisible,subset=pid`, so the app
//!    sees only its own uid's processes and no system files.
//! 5. fds: the channel fd onto [`CHANNEL_FD`] (without `O_CLOEXEC`),
//!    everything else above stderr closed (`close_range`).
//! 6. credentials: `setgroups(0)`, `setresgid`, `setresuid` to the app's
//!    ids; then, when the spec asks for it ([`SandboxSpec::await_bind`]),
//!    the child tells the launcher it runs as the app and waits until the
//!    launcher has bound the channel to it (the launcher's callback in
//!    [`spawn_bound`] sends the mediator the child's pidfd), so the
//!    mediator knows the app's identity before any of the app runs;
//!    `umask(077)` (so far `022`, for the root's directories); then
//!    `PR_SET_PDEATHSIG` (cleared by the uid change, so set after it) when
//!    asked.
//! 7. `PR_SET_NO_NEW_PRIVS`.
//! 8. Landlock: the launcher's ruleset plus a rule for the new `/proc`,
//!    enforced.
//! 9. seccomp, last (see [`super::seccomp`]).
//! 10. `execve`.
//!
//! [`probe`] holds small wrappers for the calls an app must be denied; the
//! sandbox tests call them from inside a sandbox.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

use rustix::process::{WaitId, WaitIdOptions};

use super::landlock::{self, AppRuleset};
use super::seccomp::{self, SockFprog};
use super::Pid;

/// The fd an app finds its binder channel on.
pub const CHANNEL_FD: RawFd = 3;
/// Where the child keeps the error pipe after moving its fds (close-on-exec).
const ERR_FD: RawFd = 4;
/// Where the child keeps the Landlock ruleset after moving its fds.
const LANDLOCK_FD: RawFd = 5;
/// Where the child reads the launcher's word that the channel is bound.
const SYNC_FD: RawFd = 6;
/// The first fd `close_range` closes.
const FIRST_CLOSED: u32 = 7;
/// The report a child writes on the error pipe when it waits for the bind
/// (a step index no plan has).
const READY_FOR_BIND: u32 = u32::MAX;
/// Fds are moved at or above this number first, so that placing them
/// cannot overwrite one still to be placed.
const HIGH_FD: libc::c_int = 10;

/// What a bind mount shows and allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKind {
    /// Read-only, executable (the system: `/usr`, `/lib*`, the program).
    System,
    /// Read-only, not executable (a manifest's read directory).
    ReadOnly,
    /// Read-write, not executable (a manifest's write directory).
    ReadWrite,
    /// A device node (`/dev/null`): writable, not executable.
    Device,
}

/// One bind mount into the app's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears inside the app's root (absolute).
    pub target: PathBuf,
    /// Its flags.
    pub kind: BindKind,
}

/// Everything the launcher decides about one app process.
#[derive(Debug)]
pub struct SandboxSpec {
    /// An existing empty directory on the host; the child mounts the app's
    /// tmpfs root there, inside its own mount namespace, so nothing shows
    /// outside.
    pub staging: PathBuf,
    /// Bind mounts, in order (a bind inside another comes after it). Their
    /// parent directories and mount points are made automatically.
    pub binds: Vec<Bind>,
    /// Symlinks to make in the root: (link path, what it points to).
    pub symlinks: Vec<(PathBuf, PathBuf)>,
    /// Fall back to `hidepid=invisible` alone where procfs lacks
    /// `subset=pid` (`--allow-weaker`).
    pub proc_fallback: bool,
    /// A new network namespace (no network but an unconfigured loopback).
    pub new_net: bool,
    /// The cgroup2 directory to be born into (`CLONE_INTO_CGROUP`).
    pub cgroup: Option<OwnedFd>,
    /// The fd placed at [`CHANNEL_FD`], if any: the app's end of the
    /// connection the mediator prepared for it.
    pub channel: Option<OwnedFd>,
    /// After the uid change, stop until the launcher has bound the channel
    /// to the child ([`spawn_bound`]'s callback).
    pub await_bind: bool,
    /// The app's uid.
    pub uid: u32,
    /// The app's gid.
    pub gid: u32,
    /// SIGKILL the app when the launcher's thread that spawned it exits.
    pub die_with_parent: bool,
    /// The app's Landlock ruleset; `None` runs without Landlock.
    pub landlock: Option<AppRuleset>,
    /// Seccomp programs to install, in order; empty runs without seccomp.
    pub seccomp: Vec<seccompiler::BpfProgram>,
    /// The program, as a path inside the app's root.
    pub program: PathBuf,
    /// `argv`, `argv[0]` included.
    pub args: Vec<OsString>,
    /// The whole environment.
    pub env: Vec<(OsString, OsString)>,
}

/// A spawned app process.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid.
    pub pid: Pid,
    /// Its pidfd (`O_CLOEXEC`).
    pub pidfd: OwnedFd,
}

impl Spawned {
    /// `pidfd_send_signal(SIGKILL)` and reaps: for a child that must not
    /// go on.
    pub fn kill_and_reap(&self) {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL);
        let _ = self.wait();
    }

    /// `waitid(P_PIDFD, pidfd, WEXITED)`: waits for the exit and reaps;
    /// the exit code, or 128 + the signal that killed it.
    pub fn wait(&self) -> io::Result<i32> {
        loop {
            match rustix::process::waitid(WaitId::PidFd(self.pidfd.as_fd()), WaitIdOptions::EXITED)
            {
                Ok(Some(st)) => {
                    if let Some(code) = st.exit_status() {
                        return Ok(code);
                    }
                    if let Some(sig) = st.terminating_signal() {
                        return Ok(128 + sig);
                    }
                    return Ok(255);
                }
                Ok(None) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Spawning failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Preparing the plan failed (a path with a NUL byte, a filter that
    /// does not build, no pipe).
    #[error("preparing the sandbox: {0}")]
    Prepare(String),
    /// `clone3` failed.
    #[error("clone3 ({flags}) failed: {source}")]
    Clone {
        /// The flags, by name.
        flags: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The launcher's bind of the app's channel failed; the child has been
    /// killed and reaped.
    #[error("binding the app's channel to its process: {0}")]
    Bind(String),
    /// A step in the child failed; the child has been reaped.
    #[error("sandbox step {step:?} failed: {source}")]
    Step {
        /// What the step was doing.
        step: String,
        /// The errno.
        #[source]
        source: io::Error,
    },
}

/// One step of the child. Every field is ready to pass to the kernel.
#[derive(Debug)]
enum Op {
    ResetSignals,
    Umask(libc::mode_t),
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    Mkdir(CString),
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    PivotRoot(CString),
    Chdir(CString),
    MountProc {
        data: CString,
        fallback: Option<CString>,
    },
    MoveFds,
    SetGroups,
    SetResGid(u32),
    SetResUid(u32),
    /// Tells the launcher (on the error pipe) that the child runs as the
    /// app, then waits on `SYNC_FD` for its word that the channel is bound.
    AwaitBind,
    DieWithParent(libc::pid_t),
    NoNewPrivs,
    Landlock {
        proc_access: u64,
    },
    Seccomp(usize),
    Exec,
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::ResetSignals => "signals",
            Op::Umask(_) => "umask",
            Op::Mount { .. } => "mount",
            Op::Mkdir(_) => "mkdir",
            Op::Touch(_) => "touch",
            Op::Symlink { .. } => "symlink",
            Op::PivotRoot(_) => "pivot_root",
            Op::Chdir(_) => "chdir",
            Op::MountProc { .. } => "proc",
            Op::MoveFds => "fds",
            Op::SetGroups => "setgroups",
            Op::SetResGid(_) => "setresgid",
            Op::SetResUid(_) => "setresuid",
            Op::AwaitBind => "bind",
            Op::DieWithParent(_) => "pdeathsig",
            Op::NoNewPrivs => "no_new_privs",
            Op::Landlock { .. } => "landlock",
            Op::Seccomp(_) => "seccomp",
            Op::Exec => "execve",
        }
    }
}

/// The prepared child: steps, descriptions and everything they point at.
/// Nothing in it is allocated or freed while the child runs.
pub struct Plan {
    ops: Vec<Op>,
    what: Vec<String>,
    program: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    _progs: Vec<seccompiler::BpfProgram>,
    fprogs: Vec<SockFprog>,
    channel: Option<OwnedFd>,
    await_bind: bool,
    landlock: Option<OwnedFd>,
    cgroup: Option<OwnedFd>,
    new_net: bool,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan").field("steps", &self.what).finish()
    }
}

fn cstr(p: impl AsRef<OsStr>) -> Result<CString, SpawnError> {
    CString::new(p.as_ref().as_bytes()).map_err(|_| {
        SpawnError::Prepare(format!(
            "{:?} contains a NUL byte",
            p.as_ref().to_string_lossy()
        ))
    })
}

/// `root` + an absolute in-root path.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

impl Plan {
    /// Prepares the child's steps from `spec` (consuming its fds).
    pub fn new(spec: SandboxSpec) -> Result<Plan, SpawnError> {
        let root = spec.staging.clone();
        let mut ops = Vec::new();
        let mut what = Vec::new();
        let mut push = |op: Op, w: String| {
            ops.push(op);
            what.push(w);
        };
        push(
            Op::ResetSignals,
            "resetting the signal mask and ignored signals".into(),
        );
        // The root's directories must be searchable by the app whatever the
        // launcher's umask.
        push(Op::Umask(0o022), "umask(022)".into());
        push(
            Op::Mount {
                source: None,
                target: cstr("/")?,
                fstype: None,
                flags: libc::MS_REC | libc::MS_PRIVATE,
                data: None,
            },
            "making every mount private (MS_REC | MS_PRIVATE on /)".into(),
        );
        push(
            Op::Mount {
                source: Some(cstr("tmpfs")?),
                target: cstr(&root)?,
                fstype: Some(cstr("tmpfs")?),
                flags: libc::MS_NOSUID | libc::MS_NODEV,
                data: Some(cstr("mode=0755,size=1m,nr_inodes=4096")?),
            },
            format!("mounting the app's tmpfs root on {}", root.display()),
        );
        // Directories: every parent of a mount point or link, and /proc.
        let mut dirs: Vec<PathBuf> = vec![PathBuf::from("/proc")];
        for b in &spec.binds {
            let src_is_dir = std::fs::metadata(&b.source)
                .map_err(|e| SpawnError::Prepare(format!("{}: {e}", b.source.display())))?
                .is_dir();
            let mut anc: Vec<PathBuf> = b
                .target
                .ancestors()
                .skip(if src_is_dir { 0 } else { 1 })
                .filter(|a| a != &Path::new("/"))
                .map(Path::to_path_buf)
                .collect();
            anc.reverse();
            dirs.extend(anc);
        }
        for (link, _) in &spec.symlinks {
            let mut anc: Vec<PathBuf> = link
                .ancestors()
                .skip(1)
                .filter(|a| a != &Path::new("/"))
                .map(Path::to_path_buf)
                .collect();
            anc.reverse();
            dirs.extend(anc);
        }
        let mut seen = std::collections::HashSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        for d in &dirs {
            push(
                Op::Mkdir(cstr(under(&root, d))?),
                format!("making {} in the app's root", d.display()),
            );
        }
        for b in &spec.binds {
            if !std::fs::metadata(&b.source)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                push(
                    Op::Touch(cstr(under(&root, &b.target))?),
                    format!("making the mount point {}", b.target.display()),
                );
            }
        }
        for (link, to) in &spec.symlinks {
            push(
                Op::Symlink {
                    target: cstr(to)?,
                    link: cstr(under(&root, link))?,
                },
                format!("linking {} -> {}", link.display(), to.display()),
            );
        }
        for b in &spec.binds {
            let target = cstr(under(&root, &b.target))?;
            push(
                Op::Mount {
                    source: Some(cstr(&b.source)?),
                    target: target.clone(),
                    fstype: None,
                    flags: libc::MS_BIND,
                    data: None,
                },
                format!(
                    "bind-mounting {} on {}",
                    b.source.display(),
                    b.target.display()
                ),
            );
            let flags = libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_NOSUID
                | match b.kind {
                    BindKind::System => libc::MS_RDONLY | libc::MS_NODEV,
                    BindKind::ReadOnly => libc::MS_RDONLY | libc::MS_NODEV | libc::MS_NOEXEC,
                    BindKind::ReadWrite => libc::MS_NODEV | libc::MS_NOEXEC,
                    BindKind::Device => libc::MS_NOEXEC,
                };
            push(
                Op::Mount {
                    source: None,
                    target,
                    fstype: None,
                    flags,
                    data: None,
                },
                format!("setting the flags of {} ({:?})", b.target.display(), b.kind),
            );
        }
        push(
            Op::Mount {
                source: None,
                target: cstr(&root)?,
                fstype: None,
                flags: libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                data: None,
            },
            "making the app's root read-only".into(),
        );
        push(
            Op::PivotRoot(cstr(&root)?),
            format!("pivot_root onto {}", root.display()),
        );
        push(Op::Chdir(cstr("/")?), "chdir /".into());
        push(
            Op::MountProc {
                data: cstr("hidepid=invisible,subset=pid")?,
                fallback: if spec.proc_fallback {
                    Some(cstr("hidepid=invisible")?)
                } else {
                    None
                },
            },
            "mounting /proc (hidepid=invisible,subset=pid)".into(),
        );
        push(
            Op::MoveFds,
            "placing the channel on fd 3 and closing the other fds".into(),
        );
        push(Op::SetGroups, "setgroups(0, NULL)".into());
        push(Op::SetResGid(spec.gid), format!("setresgid({})", spec.gid));
        push(Op::SetResUid(spec.uid), format!("setresuid({})", spec.uid));
        if spec.await_bind {
            // Now the child runs as the app: the mediator can check that
            // against the pidfd, and binds the channel before any of the
            // app runs.
            push(
                Op::AwaitBind,
                "waiting for the launcher to bind the channel to the app".into(),
            );
        }
        // What the app creates is its own: nobody else's uid may read it.
        push(Op::Umask(0o077), "umask(077)".into());
        if spec.die_with_parent {
            push(
                Op::DieWithParent(rustix::process::getpid().as_raw_nonzero().get()),
                "prctl(PR_SET_PDEATHSIG, SIGKILL)".into(),
            );
        }
        push(Op::NoNewPrivs, "prctl(PR_SET_NO_NEW_PRIVS)".into());
        let mut landlock_fd = None;
        if let Some(ll) = spec.landlock {
            push(
                Op::Landlock {
                    proc_access: ll.proc_access,
                },
                "enforcing the Landlock ruleset".into(),
            );
            landlock_fd = Some(ll.fd);
        }
        let mut fprogs = Vec::new();
        for (i, p) in spec.seccomp.iter().enumerate() {
            fprogs.push(SockFprog::new(p).map_err(|e| SpawnError::Prepare(e.to_string()))?);
            push(
                Op::Seccomp(i),
                format!("installing seccomp filter {}", i + 1),
            );
        }
        push(Op::Exec, format!("execve({})", spec.program.display()));

        let program = cstr(&spec.program)?;
        let argv: Vec<CString> = spec.args.iter().map(cstr).collect::<Result<_, _>>()?;
        let envp: Vec<CString> = spec
            .env
            .iter()
            .map(|(k, v)| {
                if k.as_bytes().contains(&b'=') || k.is_empty() {
                    return Err(SpawnError::Prepare(format!(
                        "environment name {k:?} is empty or contains '='"
                    )));
                }
                let mut kv = k.clone();
                kv.push("=");
                kv.push(v);
                cstr(kv)
            })
            .collect::<Result<_, _>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_ptrs.push(ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_ptrs.push(ptr::null());
        Ok(Plan {
            ops,
            what,
            program,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            _progs: spec.seccomp,
            fprogs,
            channel: spec.channel,
            await_bind: spec.await_bind,
            landlock: landlock_fd,
            cgroup: spec.cgroup,
            new_net: spec.new_net,
        })
    }

    /// The kinds of step, in the order the child runs them (`mount`,
    /// `pivot_root`, `proc`, `fds`, `setresuid`, `landlock`, `seccomp`,
    /// `execve`...).
    pub fn steps(&self) -> Vec<&'static str> {
        self.ops.iter().map(Op::kind).collect()
    }

    /// What each step does, in order (for error messages and `--explain`).
    pub fn descriptions(&self) -> &[String] {
        &self.what
    }

    fn clone_flags(&self) -> u64 {
        let mut f = (libc::CLONE_NEWNS | libc::CLONE_NEWIPC) as u64 | libc::CLONE_PIDFD as u64;
        if self.new_net {
            f |= libc::CLONE_NEWNET as u64;
        }
        if self.cgroup.is_some() {
            f |= CLONE_INTO_CGROUP;
        }
        f
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

fn flag_names(f: u64) -> String {
    let names = [
        (libc::CLONE_NEWNS as u64, "CLONE_NEWNS"),
        (libc::CLONE_NEWIPC as u64, "CLONE_NEWIPC"),
        (libc::CLONE_NEWNET as u64, "CLONE_NEWNET"),
        (libc::CLONE_PIDFD as u64, "CLONE_PIDFD"),
        (CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"),
    ];
    names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `struct clone_args` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What [`spawn_bound`] calls once the child runs as the app: binds the
/// app's channel to it, or says why not.
pub type BindFn<'a> = &'a mut dyn FnMut(&Spawned) -> Result<(), String>;

/// Prepares the plan and spawns the app: see the module docs. Returns once
/// the child has executed the program (or failed a step, which is then
/// named in the error). A spec with [`SandboxSpec::await_bind`] needs
/// [`spawn_bound`].
pub fn spawn(spec: SandboxSpec) -> Result<Spawned, SpawnError> {
    let plan = Plan::new(spec)?;
    spawn_plan(plan, None)
}

/// Like [`spawn`], and when the child runs as the app (after `setresuid`,
/// before anything else of the app), calls `bind` with it: the launcher
/// binds the app's channel to the child's pidfd there. The child goes on
/// only once `bind` returns `Ok`; an `Err` kills and reaps it and is
/// returned as [`SpawnError::Bind`].
pub fn spawn_bound(spec: SandboxSpec, bind: BindFn<'_>) -> Result<Spawned, SpawnError> {
    let plan = Plan::new(spec)?;
    spawn_plan(plan, Some(bind))
}

/// Spawns a prepared plan; `bind` as in [`spawn_bound`] (required when the
/// plan waits for a bind).
pub fn spawn_plan(plan: Plan, mut bind: Option<BindFn<'_>>) -> Result<Spawned, SpawnError> {
    if plan.await_bind && bind.is_none() {
        return Err(SpawnError::Prepare(
            "the plan waits for its channel to be bound, but no bind was given".into(),
        ));
    }
    let (err_r, err_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| SpawnError::Prepare(format!("pipe: {e}")))?;
    let (sync_r, mut sync_w) = if plan.await_bind {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| SpawnError::Prepare(format!("pipe: {e}")))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let fds = ChildFds {
        channel: plan.channel.as_ref().map(|f| f.as_raw_fd()),
        err: err_w.as_raw_fd(),
        landlock: plan.landlock.as_ref().map(|f| f.as_raw_fd()),
        sync: sync_r.as_ref().map(|f| f.as_raw_fd()),
    };
    let flags = plan.clone_flags();
    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags,
        pidfd: ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: plan
            .cgroup
            .as_ref()
            .map(|f| f.as_raw_fd() as u64)
            .unwrap_or(0),
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a live `struct clone_args` of the size passed, and
    // `pidfd` (which it points at) outlives the call. Without CLONE_VM the
    // child gets a copy of our memory and runs only `child_main`, which
    // never returns, allocates nothing and takes no lock (see there), so
    // nothing another thread of ours held at the clone is touched.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            ptr::addr_of!(args),
            size_of::<CloneArgs>(),
        )
    };
    if rc == 0 {
        child_main(&plan, fds);
    }
    if rc < 0 {
        return Err(SpawnError::Clone {
            flags: flag_names(flags),
            source: io::Error::last_os_error(),
        });
    }
    drop(err_w);
    drop(sync_r);
    let pid = libc::pid_t::try_from(rc)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| SpawnError::Prepare(format!("clone3 returned {rc}")))?;
    // SAFETY: with CLONE_PIDFD the kernel installed a new pidfd in `pidfd`
    // for us alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let spawned = Spawned { pid, pidfd };
    let (idx, errno) = loop {
        let Some(report) = read_report(&err_r).inspect_err(|_| spawned.kill_and_reap())? else {
            return Ok(spawned);
        };
        let (idx, errno) = report;
        if idx != READY_FOR_BIND {
            break (idx, errno);
        }
        // The child runs as the app and waits: bind, then let it go on.
        let (Some(w), Some(bind)) = (sync_w.take(), bind.as_mut()) else {
            spawned.kill_and_reap();
            return Err(SpawnError::Prepare(
                "the child asked for a bind it was not planned to wait for".into(),
            ));
        };
        if let Err(reason) = bind(&spawned) {
            spawned.kill_and_reap();
            return Err(SpawnError::Bind(reason));
        }
        if let Err(e) = rustix::io::write(&w, &[1]) {
            spawned.kill_and_reap();
            return Err(SpawnError::Prepare(format!(
                "telling the child its channel is bound: {e}"
            )));
        }
    };
    let _ = spawned.wait();
    let step = usize::try_from(idx)
        .ok()
        .and_then(|i| plan.what.get(i))
        .cloned()
        .unwrap_or_else(|| format!("step {idx}"));
    Err(SpawnError::Step {
        step,
        source: io::Error::from_raw_os_error(errno),
    })
}

/// Reads one 8-byte report (step index, errno) from the error pipe;
/// `None` at end of file (the child executed the program).
fn read_report(err_r: &OwnedFd) -> Result<Option<(u32, i32)>, SpawnError> {
    let mut report = [0u8; 8];
    let mut got = 0;
    while got < report.len() {
        match rustix::io::read(err_r, &mut report[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(SpawnError::Prepare(format!(
                    "reading the child's report: {e}"
                )))
            }
        }
    }
    if got == 0 {
        return Ok(None);
    }
    let (idx, errno) = report.split_at(4);
    let idx = u32::from_ne_bytes(idx.try_into().unwrap_or([0; 4]));
    let errno = i32::from_ne_bytes(errno.try_into().unwrap_or([0; 4]));
    Ok(Some((idx, errno)))
}

/// The fds the child starts from (numbers in the parent's table, which
/// the child inherits).
#[derive(Clone, Copy)]
struct ChildFds {
    channel: Option<RawFd>,
    err: RawFd,
    landlock: Option<RawFd>,
    sync: Option<RawFd>,
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn check(rc: libc::c_long) -> Result<(), i32> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn check_int(rc: libc::c_int) -> Result<(), i32> {
    check(libc::c_long::from(rc))
}

fn opt_ptr(c: &Option<CString>) -> *const libc::c_char {
    c.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

/// Writes one 8-byte report (`idx`, `err`) on `fd`, as [`read_report`]
/// reads it; whether it went out whole (pipe writes of up to `PIPE_BUF`
/// bytes are atomic, so the launcher reads it whole).
fn report(fd: RawFd, idx: u32, err: i32) -> bool {
    let mut msg = [0u8; 8];
    let idx = idx.to_ne_bytes();
    let err = err.to_ne_bytes();
    for (d, s) in msg.iter_mut().zip(idx.iter().chain(err.iter())) {
        *d = *s;
    }
    // SAFETY: `msg` is a live 8-byte buffer.
    unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) == 8 }
}

/// Reports step `idx` failing with `err` on `fd`, then exits 127.
fn fail(fd: RawFd, idx: usize, err: i32) -> ! {
    // A failed or short write only loses the report (the parent then sees
    // an exit without one).
    report(fd, u32::try_from(idx).unwrap_or(u32::MAX), err);
    // SAFETY: exit_group ends the process; nothing of ours runs afterwards.
    unsafe { libc::syscall(libc::SYS_exit_group, 127) };
    #[allow(clippy::empty_loop)]
    loop {}
}

/// The child: runs the plan's steps in order and executes the program.
///
/// Runs in the copy of a possibly multithreaded process, so it allocates
/// nothing, takes no lock, does not panic (no indexing, no unwrap), and
/// makes only raw syscalls or async-signal-safe libc calls.
fn child_main(plan: &Plan, start: ChildFds) -> ! {
    let mut err_fd = start.err;
    let mut landlock_fd = start.landlock.unwrap_or(-1);
    for (idx, op) in plan.ops.iter().enumerate() {
        let r = run_op(plan, op, start, &mut err_fd, &mut landlock_fd);
        if let Err(e) = r {
            fail(err_fd, idx, e);
        }
    }
    // Exec is the last op; reaching here means it returned.
    fail(err_fd, plan.ops.len().saturating_sub(1), libc::ENOEXEC)
}

fn run_op(
    plan: &Plan,
    op: &Op,
    start: ChildFds,
    err_fd: &mut RawFd,
    landlock_fd: &mut RawFd,
) -> Result<(), i32> {
    match op {
        Op::ResetSignals => reset_signals(),
        Op::Umask(m) => {
            // SAFETY: umask only sets a number and cannot fail.
            unsafe { libc::umask(*m) };
            Ok(())
        }
        Op::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => {
            // SAFETY: every pointer is null or a live NUL-terminated string
            // of the plan; the kernel only reads them during the call.
            let rc = unsafe {
                libc::mount(
                    opt_ptr(source),
                    target.as_ptr(),
                    opt_ptr(fstype),
                    *flags,
                    opt_ptr(data).cast(),
                )
            };
            check_int(rc)
        }
        Op::Mkdir(p) => {
            // SAFETY: `p` is a live NUL-terminated path.
            let rc = unsafe { libc::mkdir(p.as_ptr(), 0o755) };
            if rc < 0 && errno() != libc::EEXIST {
                return Err(errno());
            }
            Ok(())
        }
        Op::Touch(p) => {
            // SAFETY: `p` is a live NUL-terminated path; the fd is closed
            // at once.
            let fd = unsafe {
                libc::open(
                    p.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644 as libc::c_uint,
                )
            };
            check_int(fd)?;
            // SAFETY: `fd` was just opened by us and is used by nothing else.
            unsafe { libc::close(fd) };
            Ok(())
        }
        Op::Symlink { target, link } => {
            // SAFETY: both are live NUL-terminated strings.
            check_int(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })
        }
        Op::PivotRoot(root) => {
            // SAFETY: `root` is a live NUL-terminated path.
            check_int(unsafe { libc::chdir(root.as_ptr()) })?;
            let dot = c".";
            // SAFETY: `dot` is a static NUL-terminated string. pivot_root(".",
            // ".") stacks the old root on the new one; the umount below
            // detaches it.
            check(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })?;
            // SAFETY: as above.
            check_int(unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) })
        }
        Op::Chdir(p) => {
            // SAFETY: `p` is a live NUL-terminated path.
            check_int(unsafe { libc::chdir(p.as_ptr()) })
        }
        Op::MountProc { data, fallback } => {
            let (proc_, target) = (c"proc", c"/proc");
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            let mount = |d: &CString| {
                // SAFETY: static and plan strings, all NUL-terminated and
                // live; only read during the call.
                check_int(unsafe {
                    libc::mount(
                        proc_.as_ptr(),
                        target.as_ptr(),
                        proc_.as_ptr(),
                        flags,
                        d.as_ptr().cast(),
                    )
                })
            };
            match (mount(data), fallback) {
                (Ok(()), _) => Ok(()),
                (Err(libc::EINVAL), Some(fb)) => mount(fb),
                (Err(e), _) => Err(e),
            }
        }
        Op::MoveFds => move_fds(start, err_fd, landlock_fd),
        Op::SetGroups => {
            // SAFETY: a size of 0 means the (null) list is not read. Raw
            // syscall: glibc's wrapper would signal the parent's threads.
            check(unsafe { libc::syscall(libc::SYS_setgroups, 0usize, ptr::null::<libc::gid_t>()) })
        }
        Op::SetResGid(g) => {
            // SAFETY: plain integers; raw for the reason above.
            check(unsafe { libc::syscall(libc::SYS_setresgid, *g, *g, *g) })
        }
        Op::SetResUid(u) => {
            // SAFETY: plain integers; raw for the reason above.
            check(unsafe { libc::syscall(libc::SYS_setresuid, *u, *u, *u) })
        }
        Op::AwaitBind => {
            if !report(*err_fd, READY_FOR_BIND, 0) {
                return Err(libc::EPIPE);
            }
            let mut go = [0u8; 1];
            loop {
                // SAFETY: `go` is a live 1-byte buffer; SYNC_FD is the read
                // end of the launcher's pipe, placed by MoveFds.
                let n = unsafe { libc::read(SYNC_FD, go.as_mut_ptr().cast(), 1) };
                if n < 0 && errno() == libc::EINTR {
                    continue;
                }
                // SAFETY: SYNC_FD is ours and not used again.
                unsafe { libc::close(SYNC_FD) };
                return match n {
                    1 => Ok(()),
                    // End of file: the launcher gave up (or died).
                    0 => Err(libc::ECONNABORTED),
                    _ => Err(errno()),
                };
            }
        }
        Op::DieWithParent(parent) => {
            // SAFETY: plain integers.
            check_int(unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
            })?;
            // SAFETY: no arguments.
            if unsafe { libc::getppid() } != *parent {
                // The launcher is already gone: the signal will never come.
                return Err(libc::ESRCH);
            }
            Ok(())
        }
        Op::NoNewPrivs => {
            // SAFETY: plain integers.
            check_int(unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0)
            })
        }
        Op::Landlock { proc_access } => {
            let p = c"/proc";
            // SAFETY: a static NUL-terminated path; the fd is closed below.
            let fd = unsafe {
                libc::open(
                    p.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            check_int(fd)?;
            let r = landlock::add_path_beneath_raw(*landlock_fd, fd, *proc_access);
            // SAFETY: `fd` is ours alone.
            unsafe { libc::close(fd) };
            r?;
            landlock::restrict_self_raw(*landlock_fd)?;
            // SAFETY: the ruleset fd is ours alone and not used again.
            unsafe { libc::close(*landlock_fd) };
            *landlock_fd = -1;
            Ok(())
        }
        Op::Seccomp(i) => {
            let prog = plan.fprogs.get(*i).ok_or(libc::EINVAL)?;
            // SAFETY: the program lives in `plan._progs`, which lives as long
            // as `plan` (the whole child).
            unsafe { seccomp::install_raw(prog) }
        }
        Op::Exec => {
            // SAFETY: the program path and both pointer arrays are live and
            // null-terminated; execve only reads them.
            unsafe {
                libc::execve(
                    plan.program.as_ptr(),
                    plan.argv_ptrs.as_ptr(),
                    plan.envp_ptrs.as_ptr(),
                )
            };
            Err(errno())
        }
    }
}

/// An empty signal mask, and the default action for every signal that is
/// ignored (SIGPIPE, in a Rust launcher).
fn reset_signals() -> Result<(), i32> {
    // SAFETY: `set` is a plain sigset_t on our stack, initialised by
    // sigemptyset; sigprocmask and sigaction are async-signal-safe.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        check_int(libc::sigprocmask(libc::SIG_SETMASK, &set, ptr::null_mut()))?;
        for sig in 1..32 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, ptr::null_mut());
            }
        }
    }
    Ok(())
}

/// Places the channel on [`CHANNEL_FD`], the error pipe on [`ERR_FD`], the
/// Landlock ruleset on [`LANDLOCK_FD`] and the bind pipe on [`SYNC_FD`]
/// (all but the channel close-on-exec), then closes every fd from
/// [`FIRST_CLOSED`] up. Each is first copied at or above [`HIGH_FD`], so
/// placing one never overwrites another.
fn move_fds(start: ChildFds, err_fd: &mut RawFd, landlock_fd: &mut RawFd) -> Result<(), i32> {
    let high = |fd: RawFd| -> Result<RawFd, i32> {
        // SAFETY: F_DUPFD_CLOEXEC only makes a new fd.
        let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD) };
        if n < 0 {
            Err(errno())
        } else {
            Ok(n)
        }
    };
    let chan = start.channel.map(high).transpose()?;
    let err = high(start.err)?;
    let ll = if start.landlock.is_some() {
        Some(high(*landlock_fd)?)
    } else {
        None
    };
    let sync = start.sync.map(high).transpose()?;
    let place = |from: RawFd, to: RawFd, flags: libc::c_int| -> Result<(), i32> {
        // SAFETY: dup3 onto a number we are about to own; whatever was
        // there (an fd inherited by accident) is closed, as intended.
        check_int(unsafe { libc::dup3(from, to, flags) })
    };
    let place_or_close = |from: Option<RawFd>, to: RawFd, flags| -> Result<(), i32> {
        match from {
            Some(f) => place(f, to, flags),
            None => {
                // SAFETY: closing a number nothing of the child's uses.
                unsafe { libc::close(to) };
                Ok(())
            }
        }
    };
    place_or_close(chan, CHANNEL_FD, 0)?;
    place(err, ERR_FD, libc::O_CLOEXEC)?;
    *err_fd = ERR_FD;
    place_or_close(ll, LANDLOCK_FD, libc::O_CLOEXEC)?;
    if ll.is_some() {
        *landlock_fd = LANDLOCK_FD;
    }
    place_or_close(sync, SYNC_FD, libc::O_CLOEXEC)?;
    // SAFETY: close_range(7, ~0, 0) closes fds the child owns by copy; the
    // few it still needs were placed below 7 just above.
    unsafe { super::fds::close_range(FIRST_CLOSED, u32::MAX, super::fds::CloseRangeFlags::NONE) }
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// Small wrappers for what a sandboxed app must be denied, so tests (and a
/// curious user) can try them from inside a sandbox without `unsafe`.
/// Each returns the kernel's answer.
pub mod probe {
    use super::*;

    /// `ptrace(PTRACE_ATTACH, pid)`, detaching again if it worked.
    pub fn ptrace_attach(pid: Pid) -> io::Result<()> {
        let p = pid.as_raw_nonzero().get();
        // SAFETY: PTRACE_ATTACH reads no memory of ours.
        let rc = unsafe {
            libc::ptrace(
                libc::PTRACE_ATTACH,
                p,
                ptr::null_mut::<libc::c_void>(),
                ptr::null_mut::<libc::c_void>(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        unsafe {
            libc::ptrace(
                libc::PTRACE_DETACH,
                p,
                ptr::null_mut::<libc::c_void>(),
                ptr::null_mut::<libc::c_void>(),
            )
        };
        Ok(())
    }

    /// `io_uring_setup(1, &params)`, closing the ring if it was made.
    pub fn io_uring_setup() -> io::Result<()> {
        let mut params = [0u8; 120]; // struct io_uring_params
                                     // SAFETY: `params` is a live, writable buffer the size of
                                     // `struct io_uring_params`; the kernel writes only inside it.
        let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this fd.
        drop(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        Ok(())
    }

    /// `unshare(flags)`.
    ///
    /// Only namespace flags are meant here; on success the calling thread
    /// is in the new namespaces.
    pub fn unshare(flags: libc::c_int) -> io::Result<()> {
        // SAFETY: unshare reads no memory of ours.
        if unsafe { libc::syscall(libc::SYS_unshare, flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `clone3(NULL, 0)`: `EINVAL` from a kernel that has `clone3`,
    /// `ENOSYS` under the sandbox's filter. Never makes a process.
    pub fn clone3_null() -> io::Result<()> {
        // SAFETY: a null pointer with size 0 is refused before anything is
        // read or any process made.
        if unsafe { libc::syscall(libc::SYS_clone3, ptr::null::<u8>(), 0usize) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Err(io::Error::other("clone3(NULL, 0) succeeded"))
    }

    /// `keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)`.
    pub fn keyctl_session() -> io::Result<()> {
        const KEYCTL_GET_KEYRING_ID: libc::c_int = 0;
        const KEY_SPEC_SESSION_KEYRING: libc::c_int = -3;
        // SAFETY: plain integers.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_GET_KEYRING_ID,
                KEY_SPEC_SESSION_KEYRING,
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// `setns(open("/proc/self/ns/net"), CLONE_NEWNET)`.
    pub fn setns_own_net() -> io::Result<()> {
        let f = std::fs::File::open("/proc/self/ns/net")?;
        // SAFETY: plain integers; the fd is live for the call.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            staging: "/run/capbinder/sandbox/root".into(),
            binds: vec![
                Bind {
                    source: "/usr".into(),
                    target: "/usr".into(),
                    kind: BindKind::System,
                },
                Bind {
                    source: "/dev/null".into(),
                    target: "/dev/null".into(),
                    kind: BindKind::Device,
                },
            ],
            symlinks: vec![("/bin".into(), "usr/bin".into())],
            proc_fallback: false,
            new_net: true,
            cgroup: None,
            channel: None,
            await_bind: true,
            uid: 10000,
            gid: 10000,
            die_with_parent: true,
            landlock: None,
            seccomp: seccomp::app_filters(false).unwrap(),
            program: "/usr/bin/true".into(),
            args: vec!["true".into()],
            env: vec![("PATH".into(), "/usr/bin".into())],
        }
    }

    #[test]
    fn steps_run_in_the_designed_order() {
        let plan = Plan::new(spec()).unwrap();
        let steps = plan.steps();
        let pos = |k: &str| steps.iter().position(|s| *s == k).unwrap();
        let last = |k: &str| steps.iter().rposition(|s| *s == k).unwrap();
        assert_eq!(steps.first(), Some(&"signals"));
        assert_eq!(steps[1], "umask");
        assert!(pos("setresuid") < last("umask"));
        assert!(last("mount") < pos("pivot_root"));
        assert!(pos("pivot_root") < pos("proc"));
        assert!(pos("proc") < pos("fds"));
        assert!(pos("fds") < pos("setgroups"));
        assert!(pos("setgroups") < pos("setresgid"));
        assert!(pos("setresgid") < pos("setresuid"));
        assert!(pos("setresuid") < pos("bind"));
        assert!(pos("bind") < pos("pdeathsig"));
        assert!(pos("pdeathsig") < pos("no_new_privs"));
        assert!(pos("no_new_privs") < pos("seccomp"));
        assert_eq!(steps.last(), Some(&"execve"));
        assert_eq!(steps[steps.len() - 2], "seccomp");
        // The mount point of the file bind is made, and /proc's directory.
        let d = plan.descriptions().join("\n");
        assert!(d.contains("making the mount point /dev/null"), "{d}");
        assert!(d.contains("making /proc in the app's root"), "{d}");
        assert!(d.contains("linking /bin -> usr/bin"), "{d}");
    }

    #[test]
    fn a_nul_in_an_argument_is_refused_before_cloning() {
        let mut s = spec();
        s.args.push(OsString::from("a\0b"));
        assert!(matches!(Plan::new(s), Err(SpawnError::Prepare(_))));
    }

    #[test]
    fn clone_flags_follow_the_spec() {
        let plan = Plan::new(spec()).unwrap();
        let f = flag_names(plan.clone_flags());
        assert_eq!(f, "CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_PIDFD");
        let mut s = spec();
        s.new_net = false;
        let f = flag_names(Plan::new(s).unwrap().clone_flags());
        assert!(!f.contains("NEWNET"), "{f}");
    }

    #[test]
    fn clone3_exists_outside_a_sandbox() {
        let e = probe::clone3_null().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    }
}
