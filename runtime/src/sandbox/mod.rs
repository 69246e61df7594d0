//! The app-separation sandbox behind `capbinder-sandbox`: each app is a
//! confined process that can reach only the binder objects it is handed.
//! One [`Sandbox`] per launcher; one [`App`] per process it starts.
//!
//! [`Sandbox::launch`] gives an app, named by its [`Manifest`]:
//!
//! - its own uid and gid from a range, one per app name ([`UidTable`]);
//! - a registration with the service manager (`registerApp`) before it
//!   starts, so that `find` of a service its manifest does not list is
//!   denied, and its name is its label in the policy;
//! - its own cgroup2 directory (`<cgroup2>/capbinder-sandbox/<name>`), which
//!   it is born in, with the manifest's `[limits]` (`memory.max`,
//!   `pids.max`, `cpu.weight`) where the hierarchy offers their controllers;
//! - new mount, IPC and (unless `network = true`) network namespaces, a
//!   minimal read-only root (`/usr`, `/lib*`, the loader cache, `/dev/null`,
//!   `/dev/zero`, `/dev/urandom`, the program, and the manifest's
//!   directories), a `/proc` that shows only its own uid's processes;
//! - its connection to the mediator on fd 3 (`CAPBINDER_FD=3`), made by the
//!   mediator for a pending identity (the app's name, uid and gid:
//!   `Device::prepare_app`) and bound to the child's pidfd once the child
//!   runs as the app and before the program starts (`Device::bind_app`), so
//!   nothing is served on it before the mediator knows who holds it; the
//!   app's name is its label for every service. The socket's path is out
//!   of the app's reach, so it cannot connect again. Nothing else is open
//!   but stdin, stdout and stderr;
//! - `no_new_privs`, Landlock rules for the listed directories, and a
//!   seccomp filter, in the order `capbinder_kmod_shim::sys::sandbox`
//!   documents.
//!
//! Where the kernel lacks a feature (Landlock, seccomp, cgroup2), launching
//! fails naming it, unless [`Config::allow_weaker`] is set; the [`App`] then
//! lists what is not enforced. [`Sandbox::freeze`], [`Sandbox::thaw`],
//! [`Sandbox::kill`] and [`Sandbox::list`] work on the apps' cgroups and,
//! for freezing, on the mediator too, so that calls into a frozen app get a
//! frozen reply instead of waiting.

mod manifest;
pub(crate) mod uids;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use capbinder_kmod_shim::sys::cgroup::{self, AppCgroup};
use capbinder_kmod_shim::sys::landlock::{self, AppRules, LandlockUnavailable};
use capbinder_kmod_shim::sys::sandbox::{self as sb, Bind, BindKind, SandboxSpec, Spawned};
use capbinder_kmod_shim::sys::seccomp;

pub use manifest::{Manifest, ManifestError, ResourceLimits};
pub use uids::{UidRange, UidTable};

use crate::process::ProcessState;
use crate::service_manager::ServiceManager;

/// Where the launcher keeps its uid allocation file and the staging
/// directory, by default.
pub const DEFAULT_STATE_DIR: &str = "/run/capbinder/sandbox";
/// The directory under the cgroup2 mount that holds one cgroup per app.
pub const CGROUP_DIR: &str = "capbinder-sandbox";
/// What an app's `CAPBINDER_FD` says: its connection is on fd 3.
pub const CHANNEL_FD_ENV: &str = "3";
/// The environment variable that tells an app its name.
pub const APP_ENV: &str = "CAPBINDER_APP";
/// How long freezing or thawing a cgroup may take.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long freezing an app waits for the calls sent to it to finish
/// (Android's `CachedAppOptimizer` gives binder 100 ms; a sandbox freezes
/// on request, not in bulk, so it can wait longer).
pub const BINDER_FREEZE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a [`Sandbox`] is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The uid allocation file and the staging directory live here.
    pub state_dir: PathBuf,
    /// The directory holding one cgroup per app; `None`:
    /// `<cgroup2 mount>/capbinder-sandbox`.
    pub cgroup_root: Option<PathBuf>,
    /// The uids apps get.
    pub uids: UidRange,
    /// The mediator's socket; `None`: where clients look by default.
    pub socket: Option<PathBuf>,
    /// Run apps even where the kernel lacks a feature (and say what is not
    /// enforced) instead of refusing.
    pub allow_weaker: bool,
    /// SIGKILL an app when the thread that launched it exits
    /// (`PR_SET_PDEATHSIG`).
    pub die_with_launcher: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            cgroup_root: None,
            uids: UidRange::default(),
            socket: None,
            allow_weaker: false,
            die_with_launcher: true,
        }
    }
}

/// A kernel feature the sandbox uses and this kernel lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The feature, naming what is missing.
    pub feature: String,
    /// What is not enforced without it.
    pub consequence: String,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (without it: {})", self.feature, self.consequence)
    }
}

/// Launching or managing an app failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The launcher is not root.
    #[error("capbinder-sandbox must run as root: it creates namespaces and mounts, and gives each app its own uid")]
    NotRoot,
    /// The kernel lacks features and `allow_weaker` is not set.
    #[error("this kernel lacks what the sandbox needs: {}; run with --allow-weaker to start apps anyway", .0.iter().map(Gap::to_string).collect::<Vec<_>>().join("; "))]
    Missing(Vec<Gap>),
    /// The kernel lacks something the sandbox cannot do without.
    #[error("this kernel lacks {0}, which the sandbox cannot do without")]
    Unsupported(String),
    /// The manifest is unusable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The program cannot be run.
    #[error("program {0}")]
    Program(String),
    /// No mediator socket.
    #[error("{0}")]
    NoSocket(String),
    /// The service manager did not take the app's manifest.
    #[error("the service manager did not register app {app:?}: {message}; without that the app could find every service (start capbinder-servicemanager, or use --allow-weaker)")]
    ServiceManager {
        /// The app.
        app: String,
        /// Why.
        message: String,
    },
    /// The mediator refused a request (freeze, state).
    #[error("the mediator: {0}")]
    Mediator(String),
    /// No such app is running.
    #[error("no app {0:?} is running (see `capbinder-sandbox list`)")]
    NoSuchApp(String),
    /// A file or cgroup operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Spawning the app failed (a step is named).
    #[error(transparent)]
    Spawn(#[from] sb::SpawnError),
    /// Building a Landlock ruleset or seccomp filter failed.
    #[error("{0}")]
    Build(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// What the running kernel offers the sandbox.
#[derive(Clone, Debug)]
pub struct Features {
    /// The launcher runs as root.
    pub root: bool,
    /// Namespaces (of `mnt`, `ipc`, `net`) this kernel lacks.
    pub missing_namespaces: Vec<&'static str>,
    /// Seccomp filters with errno returns.
    pub seccomp: bool,
    /// The Landlock ABI, or why there is none.
    pub landlock: Result<u32, LandlockUnavailable>,
    /// The cgroup2 mount.
    pub cgroup2: Option<PathBuf>,
}

impl Features {
    /// Looks at the running kernel.
    pub fn probe() -> Features {
        Features {
            root: rustix::process::geteuid().is_root(),
            missing_namespaces: ["mnt", "ipc", "net"]
                .into_iter()
                .filter(|n| !Path::new("/proc/self/ns").join(n).exists())
                .collect(),
            seccomp: seccomp::filters_available(),
            landlock: landlock::abi_version(),
            cgroup2: cgroup::cgroup2_mount(),
        }
    }

    /// What is missing, each with its consequence.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut gaps = Vec::new();
        match &self.landlock {
            Err(e) => gaps.push(Gap {
                feature: format!("Landlock ({e})"),
                consequence: "no filesystem rules beyond the minimal root's mounts, no TCP rules, signals to other processes of the app's uid allowed".into(),
            }),
            Ok(abi) if *abi < landlock::SCOPE_ABI => gaps.push(Gap {
                feature: format!(
                    "Landlock ABI {} (Linux 6.12; this kernel has ABI {abi})",
                    landlock::SCOPE_ABI
                ),
                consequence: if *abi < landlock::NET_ABI {
                    "signals and abstract Unix sockets are not scoped to the app, TCP is not filtered by Landlock".into()
                } else {
                    "signals and abstract Unix sockets are not scoped to the app".into()
                },
            }),
            Ok(_) => {}
        }
        if !self.seccomp {
            gaps.push(Gap {
                feature: "seccomp filters (CONFIG_SECCOMP_FILTER)".into(),
                consequence: "ptrace, io_uring, new namespaces, the keyring and non-Unix sockets are not filtered".into(),
            });
        }
        if self.cgroup2.is_none() {
            gaps.push(Gap {
                feature: "a cgroup2 mount (cgroup.freeze, cgroup.kill)".into(),
                consequence: "the app has no cgroup: list, freeze and kill cannot find it".into(),
            });
        }
        gaps
    }
}

/// A launcher: its configuration and what the kernel offers.
#[derive(Debug)]
pub struct Sandbox {
    config: Config,
    features: Features,
    cgroup_root: Option<PathBuf>,
}

/// A running app process.
#[derive(Debug)]
pub struct App {
    /// The app's name.
    pub name: String,
    /// Its uid (and gid).
    pub uid: u32,
    /// Its pid.
    pub pid: i32,
    /// What is not enforced for it (only with `allow_weaker`).
    pub not_enforced: Vec<String>,
    spawned: Spawned,
    cgroup: Option<AppCgroup>,
}

impl App {
    /// Waits for the app to exit (reaping it) and removes its cgroup if it
    /// is empty; the exit code, or 128 + the signal that killed it.
    pub fn wait(&self) -> io::Result<i32> {
        let code = self.spawned.wait()?;
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
        Ok(code)
    }

    /// Its pidfd: readable once it exits.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.spawned.pidfd.as_fd()
    }
}

/// One app as [`Sandbox::list`] shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStatus {
    /// Its name.
    pub name: String,
    /// Its uid, if it has one.
    pub uid: Option<u32>,
    /// The pids in its cgroup.
    pub pids: Vec<i32>,
    /// Whether its cgroup is frozen.
    pub frozen: bool,
    /// Which of its pids are connected to the mediator (`None`: the
    /// mediator could not be asked).
    pub connected: Option<Vec<i32>>,
}

impl Sandbox {
    /// A launcher with `config`, looking at the running kernel.
    pub fn new(config: Config) -> Sandbox {
        let features = Features::probe();
        let cgroup_root = config
            .cgroup_root
            .clone()
            .or_else(|| features.cgroup2.as_ref().map(|m| m.join(CGROUP_DIR)));
        Sandbox {
            config,
            features,
            cgroup_root,
        }
    }

    /// What the kernel offers.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks that apps can be launched: root, the namespaces, and (unless
    /// `allow_weaker`) every feature; returns what will not be enforced.
    pub fn check(&self) -> Result<Vec<Gap>, SandboxError> {
        if !self.features.root {
            return Err(SandboxError::NotRoot);
        }
        if !self.features.missing_namespaces.is_empty() {
            return Err(SandboxError::Unsupported(format!(
                "{} namespaces",
                self.features.missing_namespaces.join(", ")
            )));
        }
        let mut gaps = self.features.gaps();
        if self.config.cgroup_root.is_some() && self.features.cgroup2.is_none() {
            // An explicit cgroup root is used as given.
            gaps.retain(|g| !g.feature.contains("cgroup2"));
        }
        if !gaps.is_empty() && !self.config.allow_weaker {
            return Err(SandboxError::Missing(gaps));
        }
        Ok(gaps)
    }

    /// The mediator's socket: the configured one or the first default
    /// place that exists.
    pub fn socket_path(&self) -> Result<PathBuf, SandboxError> {
        if let Some(p) = &self.config.socket {
            return Ok(p.clone());
        }
        let c = capbinder_kmod_shim::device::socket_candidates();
        c.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
            SandboxError::NoSocket(format!(
                "no mediator socket found (looked at {}); start capbinderd or pass --socket",
                c.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn process(&self) -> Result<Arc<ProcessState>, SandboxError> {
        let socket = self.socket_path()?;
        ProcessState::init(Some(&socket)).map_err(|e| SandboxError::Mediator(e.to_string()))
    }

    fn uid_table(&self) -> UidTable {
        UidTable::new(&self.config.state_dir, self.config.uids)
    }

    fn app_cgroup(&self, name: &str) -> Result<Option<AppCgroup>, SandboxError> {
        self.cgroup_root
            .as_ref()
            .map(|root| AppCgroup::new(root, name))
            .transpose()
            .map_err(io_err(format!("the cgroup of {name:?}")))
    }

    /// Starts `program` (a path, or a name looked up in `$PATH`) with
    /// `args` as app `manifest.name`, confined as the module docs say.
    /// `env` is added to the app's small environment (`PATH`, `HOME`,
    /// `CAPBINDER_FD`, `CAPBINDER_APP`). Returns once the program runs.
    pub fn launch(
        &self,
        manifest: &Manifest,
        program: &Path,
        args: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Result<App, SandboxError> {
        let gaps = self.check()?;
        manifest.validate()?;
        let name = &manifest.name;
        let mut not_enforced: Vec<String> = gaps.iter().map(Gap::to_string).collect();
        let (limits, limits_gap) = self.limits_for(manifest);
        if let Some(gap) = limits_gap {
            if !self.config.allow_weaker {
                return Err(SandboxError::Missing(vec![gap]));
            }
            not_enforced.push(gap.to_string());
        }
        let exe = resolve_program(program)?;
        let state = &self.config.state_dir;
        std::fs::create_dir_all(state).map_err(io_err(format!("creating {}", state.display())))?;
        let uid = self
            .uid_table()
            .uid_for(name)
            .map_err(io_err("allocating the app's uid"))?;

        // The channel: the mediator makes it for the app's identity, and
        // binds it to the child below; the app never sees the socket path.
        let ps = self.process()?;
        let (channel, token) = ps
            .dev
            .prepare_app(name, uid, uid)
            .map_err(|e| SandboxError::Mediator(format!("preparing the app's connection: {e}")))?;

        // The service manager learns the manifest before the app exists.
        let registered = ServiceManager::get()
            .and_then(|sm| sm.register_app(uid, name, &manifest.services))
            .map_err(|e| SandboxError::Mediator(e.to_string()));
        if let Err(e) = registered {
            let message = e.to_string();
            if !self.config.allow_weaker {
                return Err(SandboxError::ServiceManager {
                    app: name.clone(),
                    message,
                });
            }
            not_enforced.push(format!(
                "the service manager's per-app rules ({message}): the app may find what the policy lets any uid find"
            ));
        }

        let layout = Layout::build(manifest, &exe)?;
        let ruleset = match self.features.landlock {
            Ok(_) => Some(
                landlock::app_ruleset(&layout.rules)
                    .map_err(|e| SandboxError::Build(e.to_string()))?,
            ),
            Err(_) => None,
        };
        let filters = if self.features.seccomp {
            seccomp::app_filters(manifest.network)
                .map_err(|e| SandboxError::Build(e.to_string()))?
        } else {
            Vec::new()
        };
        let staging = state.join("root");
        std::fs::create_dir_all(&staging)
            .map_err(io_err(format!("creating {}", staging.display())))?;

        let mut app_env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("HOME".into(), "/".into()),
            ("CAPBINDER_FD".into(), CHANNEL_FD_ENV.into()),
            (APP_ENV.into(), name.into()),
        ];
        for (k, v) in env {
            if k == OsStr::new("CAPBINDER_FD")
                || k == OsStr::new("CAPBINDER_SOCKET")
                || k == OsStr::new(APP_ENV)
            {
                return Err(SandboxError::Program(format!(
                    "environment: {} is set by the launcher",
                    k.to_string_lossy()
                )));
            }
            app_env.retain(|(x, _)| x != k);
            app_env.push((k.clone(), v.clone()));
        }
        let mut argv = vec![program.as_os_str().to_os_string()];
        argv.extend(args.iter().cloned());

        // The cgroup last, so that a failure above leaves none behind.
        let cg = self.app_cgroup(name)?;
        let cg = match cg {
            Some(cg) if self.features.cgroup2.is_some() || self.config.cgroup_root.is_some() => {
                cg.create()
                    .map_err(io_err(format!("creating the cgroup of {name:?}")))?;
                Some(cg)
            }
            _ => None,
        };
        if let (Some(cg), Some(mount)) = (&cg, &self.features.cgroup2) {
            if let Err(e) = cg.apply_limits(mount, &limits) {
                let _ = cg.remove();
                return Err(io_err(format!("limiting the cgroup of {name:?}"))(e));
            }
        }
        let cg_fd: Option<OwnedFd> = cg
            .as_ref()
            .map(AppCgroup::open_dir)
            .transpose()
            .map_err(io_err("opening the app's cgroup"))?;

        let spec = SandboxSpec {
            staging,
            binds: layout.binds,
            symlinks: layout.symlinks,
            proc_fallback: self.config.allow_weaker,
            new_net: !manifest.network,
            cgroup: cg_fd,
            channel: Some(channel),
            await_bind: true,
            uid,
            gid: uid,
            die_with_parent: self.config.die_with_launcher,
            landlock: ruleset,
            seccomp: filters,
            program: exe,
            args: argv,
            env: app_env,
        };
        let mut bind = |child: &Spawned| {
            ps.dev
                .bind_app(token, child.pidfd.as_fd())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let spawned = match sb::spawn_bound(spec, &mut bind) {
            Ok(s) => s,
            Err(e) => {
                if let Some(cg) = &cg {
                    let _ = cg.remove();
                }
                return Err(e.into());
            }
        };
        Ok(App {
            name: name.clone(),
            uid,
            pid: spawned.pid.as_raw_nonzero().get(),
            not_enforced,
            spawned,
            cgroup: cg,
        })
    }

    /// The manifest's limits this hierarchy can enforce, and a gap naming
    /// the controllers it lacks for the others.
    fn limits_for(&self, manifest: &Manifest) -> (cgroup::Limits, Option<Gap>) {
        let limits = manifest.limits.to_cgroup();
        let mount = self.features.cgroup2.as_deref();
        let missing = cgroup::missing_controllers(mount, &limits);
        if missing.is_empty() {
            return (limits, None);
        }
        let offered = mount
            .and_then(|m| cgroup::available_controllers(m).ok())
            .map(|c| {
                if c.is_empty() {
                    "none".to_string()
                } else {
                    c.join(" ")
                }
            })
            .unwrap_or_else(|| "no cgroup2 mount".into());
        let controllers = missing
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ");
        let files = missing
            .iter()
            .map(|(_, f)| *f)
            .collect::<Vec<_>>()
            .join(", ");
        let gap = Gap {
            feature: format!(
                "the cgroup2 {controllers} controller{} (for {files}; this cgroup2 hierarchy offers: {offered}; a controller bound to a cgroup v1 hierarchy is not available in v2)",
                if missing.len() == 1 { "" } else { "s" },
            ),
            consequence: format!("the manifest's limits {files} are not applied"),
        };
        (limits.without(&missing), Some(gap))
    }

    /// Every app with a cgroup, with its pids and state.
    pub fn list(&self) -> Result<Vec<AppStatus>, SandboxError> {
        let Some(root) = &self.cgroup_root else {
            return Err(SandboxError::Unsupported(
                "a cgroup2 mount, where the sandbox keeps its apps".into(),
            ));
        };
        let connected: Option<Vec<i32>> = self
            .process()
            .ok()
            .and_then(|ps| ps.state().ok())
            .map(|s| s.processes.iter().map(|p| p.pid).collect());
        let table = self.uid_table();
        let mut out = Vec::new();
        for (name, cg) in
            AppCgroup::list(root).map_err(io_err(format!("reading {}", root.display())))?
        {
            let pids = cg.pids().unwrap_or_default();
            let frozen = cg
                .events()
                .map(|e| e.frozen && !pids.is_empty())
                .unwrap_or(false);
            out.push(AppStatus {
                uid: table.lookup(&name).ok().flatten(),
                connected: connected
                    .as_ref()
                    .map(|c| pids.iter().copied().filter(|p| c.contains(p)).collect()),
                name,
                pids,
                frozen,
            });
        }
        Ok(out)
    }

    fn running(&self, name: &str) -> Result<(AppCgroup, Vec<i32>), SandboxError> {
        let cg = self
            .app_cgroup(name)?
            .filter(AppCgroup::exists)
            .ok_or_else(|| SandboxError::NoSuchApp(name.to_string()))?;
        let pids = cg
            .pids()
            .map_err(io_err(format!("reading the pids of {name:?}")))?;
        if pids.is_empty() {
            return Err(SandboxError::NoSuchApp(name.to_string()));
        }
        Ok((cg, pids))
    }

    /// The app's pids that the mediator knows.
    fn connected(&self, pids: &[i32]) -> Result<Vec<i32>, SandboxError> {
        let ps = self.process()?;
        let state = ps
            .state()
            .map_err(|e| SandboxError::Mediator(e.to_string()))?;
        Ok(pids
            .iter()
            .copied()
            .filter(|p| state.processes.iter().any(|s| s.pid == *p))
            .collect())
    }

    /// Freezes app `name`: the mediator first (so new calls into it get a
    /// frozen reply and its oneway calls wait), then its cgroup. Fails,
    /// thawing what it froze, if the app still has calls to finish after
    /// [`BINDER_FREEZE_TIMEOUT`] (a sync call queued or being served, a
    /// oneway call queued).
    pub fn freeze(&self, name: &str) -> Result<(), SandboxError> {
        let (cg, pids) = self.running(name)?;
        let ps = self.process()?;
        let mut done = Vec::new();
        for pid in self.connected(&pids)? {
            if let Err(e) = ps.freeze(pid, true, BINDER_FREEZE_TIMEOUT) {
                for &p in &done {
                    let _ = ps.freeze(p, false, Duration::ZERO);
                }
                return Err(SandboxError::Mediator(format!("freezing pid {pid}: {e}")));
            }
            done.push(pid);
        }
        if let Err(e) = cg.set_frozen(true, FREEZE_TIMEOUT) {
            for &p in &done {
                let _ = ps.freeze(p, false, Duration::ZERO);
            }
            return Err(io_err(format!("freezing the cgroup of {name:?}"))(e));
        }
        Ok(())
    }

    /// Thaws app `name`: its cgroup first, then the mediator (so waiting
    /// oneway calls reach a running process).
    pub fn thaw(&self, name: &str) -> Result<(), SandboxError> {
        let (cg, pids) = self.running(name)?;
        cg.set_frozen(false, FREEZE_TIMEOUT)
            .map_err(io_err(format!("thawing the cgroup of {name:?}")))?;
        let ps = self.process()?;
        for pid in self.connected(&pids)? {
            ps.freeze(pid, false, Duration::ZERO)
                .map_err(|e| SandboxError::Mediator(format!("thawing pid {pid}: {e}")))?;
        }
        Ok(())
    }

    /// Kills every process of app `name` (`cgroup.kill`, frozen ones too);
    /// the mediator sees them die and sends the death notifications.
    pub fn kill(&self, name: &str) -> Result<(), SandboxError> {
        let (cg, _) = self.running(name)?;
        cg.kill()
            .map_err(io_err(format!("killing the cgroup of {name:?}")))
    }
}

/// `program` as an absolute path without symlinks: as given if it has a
/// slash, else looked up in `$PATH`.
fn resolve_program(program: &Path) -> Result<PathBuf, SandboxError> {
    let found = if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        Some(program.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    let found = found.ok_or_else(|| {
        SandboxError::Program(format!("{}: not found in $PATH", program.display()))
    })?;
    let exe = std::fs::canonicalize(&found)
        .map_err(|e| SandboxError::Program(format!("{}: {e}", found.display())))?;
    if !exe.is_file() {
        return Err(SandboxError::Program(format!(
            "{}: not a file",
            exe.display()
        )));
    }
    Ok(exe)
}

/// The app's root: bind mounts, symlinks, and the matching Landlock rules.
struct Layout {
    binds: Vec<Bind>,
    symlinks: Vec<(PathBuf, PathBuf)>,
    rules: AppRules,
}

/// What the program needs to load.
const SYSTEM_DIRS: [&str; 7] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// The loader's cache.
const LOADER_CACHE: &str = "/etc/ld.so.cache";
/// Device nodes to read and write.
const DEV_RW: [&str; 2] = ["/dev/null", "/dev/zero"];
/// Device nodes to read.
const DEV_RO: [&str; 2] = ["/dev/urandom", "/dev/random"];

impl Layout {
    fn build(m: &Manifest, exe: &Path) -> Result<Layout, SandboxError> {
        let mut l = Layout {
            binds: Vec::new(),
            symlinks: Vec::new(),
            rules: AppRules {
                network: m.network,
                ..AppRules::default()
            },
        };
        for d in SYSTEM_DIRS {
            let p = Path::new(d);
            match std::fs::symlink_metadata(p) {
                Ok(md) if md.file_type().is_symlink() => {
                    let to = std::fs::read_link(p).map_err(io_err(format!("reading {d}")))?;
                    l.symlinks.push((p.to_path_buf(), to));
                }
                Ok(md) if md.is_dir() => {
                    l.bind(p, p, BindKind::System);
                    l.rules.read_exec.push(p.to_path_buf());
                }
                _ => {}
            }
        }
        if Path::new(LOADER_CACHE).is_file() {
            l.bind(
                Path::new(LOADER_CACHE),
                Path::new(LOADER_CACHE),
                BindKind::System,
            );
            l.rules.read_exec.push(LOADER_CACHE.into());
        }
        for (devs, rw) in [(&DEV_RW, true), (&DEV_RO, false)] {
            for d in devs.iter().map(Path::new).filter(|d| d.exists()) {
                l.bind(d, d, BindKind::Device);
                if rw {
                    l.rules.dev_rw.push(d.to_path_buf());
                } else {
                    l.rules.dev_ro.push(d.to_path_buf());
                }
            }
        }
        let canon = |d: &Path| {
            std::fs::canonicalize(d).map_err(|e| {
                SandboxError::Manifest(ManifestError {
                    source_name: None,
                    message: format!("{}: {e}", d.display()),
                })
            })
        };
        let system_dirs: Vec<PathBuf> = l
            .binds
            .iter()
            .filter(|b| b.kind == BindKind::System && b.source.is_dir())
            .map(|b| b.source.clone())
            .collect();
        if !system_dirs.iter().any(|d| exe.starts_with(d)) {
            for d in m.read.iter().chain(&m.write) {
                let c = canon(d)?;
                if exe.starts_with(&c) {
                    return Err(SandboxError::Program(format!(
                        "{} is inside {}, which the app gets without exec rights; put the program elsewhere",
                        exe.display(),
                        d.display()
                    )));
                }
            }
            l.bind(exe, exe, BindKind::System);
            l.rules.read_exec.push(exe.to_path_buf());
        }
        for (dirs, kind) in [
            (&m.read, BindKind::ReadOnly),
            (&m.write, BindKind::ReadWrite),
        ] {
            for d in dirs {
                let c = canon(d)?;
                l.bind(&c, d, kind);
                match kind {
                    BindKind::ReadWrite => l.rules.write.push(c),
                    _ => l.rules.read.push(c),
                }
            }
        }
        Ok(l)
    }

    fn bind(&mut self, source: &Path, target: &Path, kind: BindKind) {
        self.binds.push(Bind {
            source: source.to_path_buf(),
            target: target.to_path_buf(),
            kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_has_the_system_the_program_and_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let read = dir.path().join("read");
        let write = dir.path().join("write");
        std::fs::create_dir(&read).unwrap();
        std::fs::create_dir(&write).unwrap();
        let mut m = Manifest::named("t");
        m.read.push(read.clone());
        m.write.push(write.clone());
        let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
        let l = Layout::build(&m, &exe).unwrap();
        let kind_of = |t: &Path| l.binds.iter().find(|b| b.target == t).map(|b| b.kind);
        assert_eq!(kind_of(&exe), Some(BindKind::System));
        assert_eq!(kind_of(&read), Some(BindKind::ReadOnly));
        assert_eq!(kind_of(&write), Some(BindKind::ReadWrite));
        assert_eq!(kind_of(Path::new("/dev/null")), Some(BindKind::Device));
        assert!(l.rules.write.contains(&write.canonicalize().unwrap()));
        assert!(!l.rules.network);
        // /etc/passwd and the rest of /etc are not there.
        assert!(kind_of(Path::new("/etc")).is_none());
    }

    #[test]
    fn a_program_in_a_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("prog");
        std::fs::write(&exe, b"").unwrap();
        let mut m = Manifest::named("t");
        m.read.push(dir.path().to_path_buf());
        let e = Layout::build(&m, &exe.canonicalize().unwrap())
            .err()
            .unwrap();
        assert!(e.to_string().contains("without exec rights"), "{e}");
    }

    #[test]
    fn gaps_name_the_feature_and_the_consequence() {
        let f = Features {
            root: true,
            missing_namespaces: vec![],
            seccomp: false,
            landlock: Ok(3),
            cgroup2: None,
        };
        let g: Vec<String> = f.gaps().iter().map(Gap::to_string).collect();
        assert_eq!(g.len(), 3, "{g:?}");
        assert!(
            g[0].contains("Landlock ABI 6") && g[0].contains("ABI 3"),
            "{g:?}"
        );
        assert!(g[1].contains("seccomp"), "{g:?}");
        assert!(g[2].contains("cgroup2"), "{g:?}");
        let e = SandboxError::Missing(f.gaps()).to_string();
        assert!(e.contains("--allow-weaker"), "{e}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let e = resolve_program(Path::new("capbinder-no-such-program")).unwrap_err();
        assert!(e.to_string().contains("capbinder-no-such-program"), "{e}");
    }
}
