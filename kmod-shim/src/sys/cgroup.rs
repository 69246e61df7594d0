//! The sandbox's cgroups: one cgroup v2 directory per app. Its core files
//! (`cgroup.procs`, `cgroup.freeze`, `cgroup.events`, `cgroup.kill`) group
//! the app's processes so that the manager can list, freeze and kill them
//! as one. Where the manifest asks for [`Limits`] (`memory.max`,
//! `pids.max`, `cpu.weight`), their controllers are enabled in
//! `cgroup.subtree_control` from the cgroup2 mount down to the app's parent
//! ([`AppCgroup::apply_limits`]) and the values written before the app is
//! born; [`missing_controllers`] says which the hierarchy does not offer
//! (on a hybrid system, a controller bound to a v1 hierarchy is not
//! available in v2).
//!
//! The app's child is born inside its cgroup (`clone3` with
//! `CLONE_INTO_CGROUP` and the fd [`AppCgroup::open_dir`] gives), so no
//! process of the app ever runs outside it. On a cgroup v1-only system
//! there is no cgroup2 mount; [`cgroup2_mount`] says so and the launcher
//! refuses (or, with `--allow-weaker`, runs the app without one).

use std::fs;
use std::io::{self, BufRead};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

/// Where the cgroup2 hierarchy is mounted (from `/proc/self/mountinfo`),
/// if it is.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let f = fs::File::open("/proc/self/mountinfo").ok()?;
    for line in io::BufReader::new(f).lines().map_while(Result::ok) {
        // "<id> <parent> <maj:min> <root> <mountpoint> <opts> [optional...] - <fstype> <src> <superopts>"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        if let Some(mp) = left.split_whitespace().nth(4) {
            return Some(PathBuf::from(unescape_mountinfo(mp)));
        }
    }
    None
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            let oct = b
                .get(i + 1..i + 4)
                .and_then(|o| std::str::from_utf8(o).ok());
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether an app's cgroup directory name is acceptable: the app names
/// the launcher accepts ([a-z0-9._-], not starting with a dot), so a name
/// can never climb out of the sandbox's cgroup root.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
}

/// Resource limits for an app's cgroup; `None` leaves the kernel's default
/// (no limit, weight 100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// `memory.max`, in bytes (the `memory` controller).
    pub memory_max: Option<u64>,
    /// `pids.max`: processes and threads (the `pids` controller).
    pub pids_max: Option<u64>,
    /// `cpu.weight`, 1 to 10000 (the `cpu` controller).
    pub cpu_weight: Option<u64>,
}

impl Limits {
    /// (controller, interface file, limit) for every limit, set or not: the
    /// one table of which field needs which controller.
    fn slots(&mut self) -> [(&'static str, &'static str, &mut Option<u64>); 3] {
        [
            ("memory", "memory.max", &mut self.memory_max),
            ("pids", "pids.max", &mut self.pids_max),
            ("cpu", "cpu.weight", &mut self.cpu_weight),
        ]
    }

    /// (controller, interface file, value) for each limit that is set.
    pub fn settings(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut limits = *self;
        limits
            .slots()
            .into_iter()
            .filter_map(|(c, f, v)| v.map(|v| (c, f, v)))
            .collect()
    }

    /// The same limits less those whose controller `controllers` names (as
    /// [`missing_controllers`] lists them).
    pub fn without(mut self, controllers: &[(&str, &str)]) -> Limits {
        for (c, _, v) in self.slots() {
            if controllers.iter().any(|(m, _)| *m == c) {
                *v = None;
            }
        }
        self
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.settings().is_empty()
    }
}

/// The controllers the cgroup2 hierarchy mounted at `mount` offers (its
/// root's `cgroup.controllers`).
pub fn available_controllers(mount: &Path) -> io::Result<Vec<String>> {
    let path = mount.join("cgroup.controllers");
    let text = fs::read_to_string(&path).map_err(|e| ctx(e, "reading", &path))?;
    Ok(text.split_whitespace().map(str::to_string).collect())
}

/// The (controller, interface file) pairs of `limits` that the hierarchy
/// at `mount` cannot give (no cgroup2 mount: all of them).
pub fn missing_controllers(
    mount: Option<&Path>,
    limits: &Limits,
) -> Vec<(&'static str, &'static str)> {
    let have = mount
        .and_then(|m| available_controllers(m).ok())
        .unwrap_or_default();
    limits
        .settings()
        .into_iter()
        .filter(|(c, _, _)| !have.iter().any(|h| h == c))
        .map(|(c, f, _)| (c, f))
        .collect()
}

/// One app's cgroup: `<root>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCgroup {
    dir: PathBuf,
}

/// What `cgroup.events` says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    /// `populated`: some process is in the cgroup (or below).
    pub populated: bool,
    /// `frozen`: every process in it is frozen.
    pub frozen: bool,
}

impl AppCgroup {
    /// The cgroup of app `name` under `root` (not created yet).
    pub fn new(root: &Path, name: &str) -> io::Result<AppCgroup> {
        if !valid_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a valid app name: use 1 to 64 of [a-z0-9._-], not starting with a dot"),
            ));
        }
        Ok(AppCgroup {
            dir: root.join(name),
        })
    }

    /// The cgroups under `root`, one per app that has one.
    pub fn list(root: &Path) -> io::Result<Vec<(String, AppCgroup)>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() && valid_name(&name) {
                out.push((name, AppCgroup { dir: entry.path() }));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory exists.
    pub fn exists(&self) -> bool {
        self.dir.join("cgroup.procs").exists()
    }

    /// `mkdir -p`, then checks that the cgroup has `cgroup.freeze` and
    /// `cgroup.kill` (Linux 5.14), which the sandbox relies on.
    pub fn create(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir).map_err(|e| ctx(e, "creating", &self.dir))?;
        for f in ["cgroup.freeze", "cgroup.kill"] {
            if !self.dir.join(f).exists() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{} has no {f}: is it a cgroup2 directory, on Linux 5.14 or later?",
                        self.dir.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Applies `limits` to this (created, still empty) cgroup: first each
    /// needed controller is enabled (`+name` in `cgroup.subtree_control`)
    /// in every directory from `mount` down to this cgroup's parent, then
    /// the interface files are written. Only the controllers `limits` names
    /// are touched; one the hierarchy does not offer fails naming it (check
    /// with [`missing_controllers`] first). A directory on the way that
    /// holds processes itself cannot enable controllers (cgroup2's "no
    /// internal processes" rule): the error names it.
    pub fn apply_limits(&self, mount: &Path, limits: &Limits) -> io::Result<()> {
        let settings = limits.settings();
        if settings.is_empty() {
            return Ok(());
        }
        let parent = self.dir.parent().unwrap_or(&self.dir);
        if !parent.starts_with(mount) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not under the cgroup2 mount {}",
                    self.dir.display(),
                    mount.display()
                ),
            ));
        }
        // The mount first, down to the parent: a controller must be enabled
        // above before it can be below.
        let mut dirs: Vec<&Path> = parent
            .ancestors()
            .take_while(|d| d.starts_with(mount))
            .collect();
        dirs.reverse();
        for dir in dirs {
            let path = dir.join("cgroup.subtree_control");
            let enabled = fs::read_to_string(&path).map_err(|e| ctx(e, "reading", &path))?;
            for (ctrl, _, _) in &settings {
                if enabled.split_whitespace().any(|e| e == *ctrl) {
                    continue;
                }
                fs::write(&path, format!("+{ctrl}")).map_err(|e| {
                    ctx(
                        e,
                        &format!("enabling the {ctrl} controller: writing +{ctrl} to"),
                        &path,
                    )
                })?;
            }
        }
        for (_, file, value) in settings {
            self.write(file, &value.to_string())?;
        }
        Ok(())
    }

    /// `open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)`: the fd `clone3`'s
    /// `CLONE_INTO_CGROUP` takes.
    pub fn open_dir(&self) -> io::Result<OwnedFd> {
        rustix::fs::open(
            &self.dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ctx(e.into(), "opening", &self.dir))
    }

    /// The pids in `cgroup.procs`.
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        let path = self.dir.join("cgroup.procs");
        let text = fs::read_to_string(&path).map_err(|e| ctx(e, "reading", &path))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// `cgroup.events`.
    pub fn events(&self) -> io::Result<Events> {
        let path = self.dir.join("cgroup.events");
        let text = fs::read_to_string(&path).map_err(|e| ctx(e, "reading", &path))?;
        let mut ev = Events::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("populated", v)) => ev.populated = v.trim() == "1",
                Some(("frozen", v)) => ev.frozen = v.trim() == "1",
                _ => {}
            }
        }
        Ok(ev)
    }

    fn write(&self, file: &str, value: &str) -> io::Result<()> {
        let path = self.dir.join(file);
        fs::write(&path, value).map_err(|e| ctx(e, "writing", &path))
    }

    /// Writes `cgroup.freeze` and waits (up to `timeout`) until
    /// `cgroup.events` agrees; a cgroup with no process is frozen at once.
    pub fn set_frozen(&self, frozen: bool, timeout: Duration) -> io::Result<()> {
        self.write("cgroup.freeze", if frozen { "1" } else { "0" })?;
        let deadline = Instant::now() + timeout;
        loop {
            let ev = self.events()?;
            if ev.frozen == frozen || (frozen && !ev.populated) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not become {} within {timeout:?}",
                        self.dir.display(),
                        if frozen { "frozen" } else { "thawed" }
                    ),
                ));
            }
            // cgroup.events turns readable (POLLPRI) on each change; wait
            // for one, but wake up now and then in case it raced.
            wait_modified(&self.dir.join("cgroup.events"), Duration::from_millis(50));
        }
    }

    /// Writes `1` to `cgroup.kill`: SIGKILL to every process in it (frozen
    /// ones included), atomically with respect to forks.
    pub fn kill(&self) -> io::Result<()> {
        self.write("cgroup.kill", "1")
    }

    /// Removes the directory if no process is left in it; `Ok(false)` when
    /// some still are (`EBUSY`).
    pub fn remove(&self) -> io::Result<bool> {
        match fs::remove_dir(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(ctx(e, "removing", &self.dir)),
        }
    }
}

/// `poll({fd, POLLPRI})` on a cgroup file for at most `timeout`: the kernel
/// signals each change of `cgroup.events` that way.
fn wait_modified(path: &Path, timeout: Duration) {
    let Ok(f) = fs::File::open(path) else {
        return;
    };
    let mut buf = [0u8; 256];
    let _ = rustix::io::read(&f, &mut buf);
    let mut fds = [rustix::event::PollFd::new(
        &f,
        rustix::event::PollFlags::PRI,
    )];
    // `Nsecs` is `c_long`-sized on some targets, `i64` on others.
    #[allow(clippy::unnecessary_fallible_conversions)]
    let ts = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::event::Nsecs::try_from(timeout.subsec_nanos()).unwrap_or(0),
    };
    let _ = rustix::event::poll(&mut fds, Some(&ts));
}

fn ctx(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_climb_out() {
        assert!(valid_name("player"));
        assert!(valid_name("com.example.player-2"));
        assert!(!valid_name(""));
        assert!(!valid_name(".."));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("Player"));
        assert!(!valid_name(&"x".repeat(65)));
        assert!(AppCgroup::new(Path::new("/x"), "../y").is_err());
    }

    /// A directory tree shaped like a cgroup2 hierarchy (plain files): what
    /// `apply_limits` writes where.
    #[test]
    fn limits_enable_their_controllers_down_to_the_parent_then_are_written() {
        let t = tempfile::tempdir().unwrap();
        let mount = t.path();
        let root = mount.join("sandbox");
        let app = root.join("player");
        fs::create_dir_all(&app).unwrap();
        fs::write(
            mount.join("cgroup.controllers"),
            "cpu memory pids hugetlb\n",
        )
        .unwrap();
        fs::write(mount.join("cgroup.subtree_control"), "memory\n").unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        let limits = Limits {
            memory_max: Some(64 << 20),
            pids_max: Some(32),
            cpu_weight: None,
        };
        assert!(missing_controllers(Some(mount), &limits).is_empty());
        let cg = AppCgroup::new(&root, "player").unwrap();
        cg.apply_limits(mount, &limits).unwrap();
        // Already enabled at the mount: only pids is written there (a real
        // subtree_control takes one "+name" per write and keeps the rest).
        assert_eq!(
            fs::read_to_string(mount.join("cgroup.subtree_control")).unwrap(),
            "+pids"
        );
        assert_eq!(
            fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+pids",
            "the last write of the two (+memory, then +pids) stays in a plain file"
        );
        assert_eq!(
            fs::read_to_string(app.join("memory.max")).unwrap(),
            (64u64 << 20).to_string()
        );
        assert_eq!(fs::read_to_string(app.join("pids.max")).unwrap(), "32");
        assert!(!app.join("cpu.weight").exists());
        // Not offered: named.
        fs::write(mount.join("cgroup.controllers"), "hugetlb\n").unwrap();
        assert_eq!(
            missing_controllers(Some(mount), &limits),
            vec![("memory", "memory.max"), ("pids", "pids.max")]
        );
        assert_eq!(missing_controllers(None, &limits).len(), 2);
        assert!(missing_controllers(None, &Limits::default()).is_empty());
        // A cgroup outside the mount is refused.
        let elsewhere = AppCgroup::new(Path::new("/nonexistent-cg"), "x").unwrap();
        assert!(elsewhere.apply_limits(mount, &limits).is_err());
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/sys/fs/cgroup"), "/sys/fs/cgroup");
    }

    #[test]
    fn an_app_cgroup_freezes_and_is_removed() {
        let Some(mount) = cgroup2_mount() else {
            eprintln!("skipped: no cgroup2 mount");
            return;
        };
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: not root");
            return;
        }
        let root = mount.join(format!("capbinder-unit-{}", std::process::id()));
        let cg = AppCgroup::new(&root, "app").unwrap();
        cg.create().unwrap();
        assert!(cg.exists());
        assert!(cg.pids().unwrap().is_empty());
        cg.set_frozen(true, Duration::from_secs(5)).unwrap();
        cg.set_frozen(false, Duration::from_secs(5)).unwrap();
        assert!(cg.remove().unwrap());
        let _ = fs::remove_dir(&root);
    }
}
