//! An app's manifest: what the launcher reads from `APP.toml`. One per app.
//!
//! ```toml
//! name = "player"                  # the app's name: its label, its uid's key
//! services = ["media.player"]      # names (or `*` patterns) it may find
//! read = ["/srv/music"]            # directories it may read (none by default)
//! write = ["/var/lib/player"]      # directories it may write (none by default)
//! network = false                  # the default: no network at all
//!
//! [limits]                         # cgroup2 controllers; none by default
//! memory_max = 268435456           # bytes (memory.max)
//! pids_max = 64                    # processes and threads (pids.max)
//! cpu_weight = 50                  # 1..10000, default 100 (cpu.weight)
//! ```
//!
//! Unknown keys are errors; every error names the key and what to do.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// What an app may reach.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The app's name: 1 to 64 of `[a-z0-9._-]`, not starting with a dot.
    /// It is the label policies use and the key of its uid and cgroup.
    pub name: String,
    /// Service names (or `*` patterns) the app may find.
    #[serde(default)]
    pub services: Vec<String>,
    /// Directories the app may read (absolute paths).
    #[serde(default)]
    pub read: Vec<PathBuf>,
    /// Directories the app may read and write (absolute paths).
    #[serde(default)]
    pub write: Vec<PathBuf>,
    /// Whether the app keeps the host's network (no new network namespace,
    /// no socket filter, no TCP Landlock rules).
    #[serde(default)]
    pub network: bool,
    /// Resource limits, applied through the app's cgroup.
    #[serde(default)]
    pub limits: ResourceLimits,
}

/// The manifest's `[limits]`: each one needs its cgroup2 controller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimits {
    /// `memory.max` in bytes (at least 1 MiB).
    pub memory_max: Option<u64>,
    /// `pids.max` (at least 1).
    pub pids_max: Option<u64>,
    /// `cpu.weight`, 1 to 10000.
    pub cpu_weight: Option<u64>,
}

impl ResourceLimits {
    /// The same, for `capbinder_kmod_shim::sys::cgroup`.
    pub fn to_cgroup(self) -> capbinder_kmod_shim::sys::cgroup::Limits {
        capbinder_kmod_shim::sys::cgroup::Limits {
            memory_max: self.memory_max,
            pids_max: self.pids_max,
            cpu_weight: self.cpu_weight,
        }
    }
}

/// A manifest that cannot be used; the message says why and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest{}: {message}", source_name.as_ref().map(|s| format!(" {s}")).unwrap_or_default())]
pub struct ManifestError {
    /// The file, when the manifest came from one.
    pub source_name: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn err(message: impl Into<String>) -> ManifestError {
    ManifestError {
        source_name: None,
        message: message.into(),
    }
}

impl Manifest {
    /// A manifest with only a name: no services, no directories, no network.
    pub fn named(name: &str) -> Manifest {
        Manifest {
            name: name.to_string(),
            services: Vec::new(),
            read: Vec::new(),
            write: Vec::new(),
            network: false,
            limits: ResourceLimits::default(),
        }
    }

    /// Parses and checks a manifest.
    pub fn from_toml(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Reads, parses and checks `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let named = |mut e: ManifestError| {
            e.source_name = Some(path.display().to_string());
            e
        };
        let text = std::fs::read_to_string(path).map_err(|e| named(err(e.to_string())))?;
        Manifest::from_toml(&text).map_err(named)
    }

    /// Checks the name, the services and the directories (absolute, no
    /// `..`, existing directories).
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !capbinder_kmod_shim::sys::cgroup::valid_name(&self.name) {
            return Err(err(format!(
                "name = {:?}: use 1 to 64 of [a-z0-9._-], not starting with a dot",
                self.name
            )));
        }
        for s in &self.services {
            // A pattern is a name with `*` for any run of characters.
            if let Some(why) = crate::service_manager::invalid_service_name(&s.replace('*', "x")) {
                return Err(err(format!(
                    "services: {s:?} is not a service name or pattern: {why}"
                )));
            }
        }
        for (key, dirs) in [("read", &self.read), ("write", &self.write)] {
            for d in dirs {
                check_dir(key, d)?;
            }
        }
        let l = &self.limits;
        if l.memory_max.is_some_and(|m| m < 1 << 20) {
            return Err(err(
                "limits.memory_max is in bytes and must be at least 1048576 (1 MiB)",
            ));
        }
        if l.pids_max == Some(0) {
            return Err(err("limits.pids_max must be at least 1"));
        }
        if l.cpu_weight.is_some_and(|w| !(1..=10_000).contains(&w)) {
            return Err(err(
                "limits.cpu_weight must be 1 to 10000 (the default is 100)",
            ));
        }
        Ok(())
    }
}

fn check_dir(key: &str, d: &Path) -> Result<(), ManifestError> {
    if !d.is_absolute() {
        return Err(err(format!(
            "{key}: {} is not an absolute path",
            d.display()
        )));
    }
    if d.components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(err(format!(
            "{key}: {} contains `.` or `..`; write the plain path",
            d.display()
        )));
    }
    if d == Path::new("/") {
        return Err(err(format!(
            "{key}: / would give the app the whole filesystem; name the directories it needs"
        )));
    }
    match std::fs::metadata(d) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(err(format!("{key}: {} is not a directory", d.display()))),
        Err(e) => Err(err(format!("{key}: {}: {e}", d.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_nothing() {
        let m = Manifest::from_toml("name = \"player\"").unwrap();
        assert_eq!(m, Manifest::named("player"));
        assert!(!m.network);
        assert!(m.read.is_empty() && m.write.is_empty() && m.services.is_empty());
    }

    #[test]
    fn a_full_manifest_parses() {
        let m = Manifest::from_toml(
            "name = \"player\"\nservices = [\"media.player\"]\nread = [\"/usr\"]\nnetwork = true\n",
        )
        .unwrap();
        assert_eq!(m.services, vec!["media.player".to_string()]);
        assert_eq!(m.read, vec![PathBuf::from("/usr")]);
        assert!(m.network);
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let e = Manifest::from_toml("name = \"Bad Name\"").unwrap_err();
        assert!(e.message.contains("name"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\nread = [\"usr\"]").unwrap_err();
        assert!(e.message.contains("absolute"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\nwrite = [\"/tmp/../etc\"]").unwrap_err();
        assert!(e.message.contains(".."), "{e}");
        let e = Manifest::from_toml("name = \"a\"\nread = [\"/\"]").unwrap_err();
        assert!(e.message.contains("whole filesystem"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\nnetwrok = true").unwrap_err();
        assert!(e.message.contains("netwrok"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\nread = [\"/nonexistent/x\"]").unwrap_err();
        assert!(e.message.contains("/nonexistent/x"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\n[limits]\ncpu_weight = 0").unwrap_err();
        assert!(e.message.contains("cpu_weight"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\n[limits]\nmemory_max = 4096").unwrap_err();
        assert!(e.message.contains("memory_max"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\n[limits]\nmemory = 4096").unwrap_err();
        assert!(e.message.contains("memory"), "{e}");
        let e = Manifest::from_toml("name = \"a\"\nservices = [\"media player\"]").unwrap_err();
        assert!(e.message.contains("\"media player\""), "{e}");
        // patterns are names with stars
        Manifest::from_toml("name = \"a\"\nservices = [\"media.*\", \"*\"]").unwrap();
    }

    #[test]
    fn limits_parse() {
        let m = Manifest::from_toml(
            "name = \"a\"\n[limits]\nmemory_max = 268435456\npids_max = 64\ncpu_weight = 50\n",
        )
        .unwrap();
        let l = m.limits.to_cgroup();
        assert_eq!(
            l.settings(),
            vec![
                ("memory", "memory.max", 268435456),
                ("pids", "pids.max", 64),
                ("cpu", "cpu.weight", 50)
            ]
        );
        assert!(Manifest::named("a").limits.to_cgroup().is_empty());
    }
}
