//! The mediator's configuration: one TOML file, read once at start.
//!
//! ```toml
//! context_manager_uid = 1000      # only this uid may claim handle 0
//! privileged_uids = [1000]        # besides root: may freeze, sees all state
//! migrate_priority = "auto"       # "auto" (if CAP_SYS_NICE), "on", "off"
//! event_loop = "auto"             # "auto" (epoll, the faster here), "io_uring", "epoll"
//! slice_us = 0                    # the loop thread's scheduler slice; absent: 4x the kernel's, 0: the kernel's
//! [limits]                        # capbinder_core::Limits, every key optional
//! recv_buffer = 1048576
//! thread_cap = 256
//! blob_threshold = 262144
//! ```
//!
//! Unknown keys are errors, and every error names the key and the reason.

use std::path::Path;

use capbinder_core::Limits;
use serde::Deserialize;

pub use super::event_loop::LoopChoice;

/// Whether to migrate callers' priorities to server threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Migrate {
    /// When the mediator holds `CAP_SYS_NICE` (decided at start).
    #[default]
    Auto,
    /// Always (setting priorities fails without the capability; logged).
    On,
    /// Never: priorities are only reported in the calling identity.
    Off,
}

/// Everything `capbinderd` reads from its configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Limits in force (sent to every process in the handshake).
    pub limits: Limits,
    /// Only this uid may become the context manager; `None`: the first.
    pub context_manager_uid: Option<u32>,
    /// Uids treated as privileged besides root (may freeze, see all state).
    pub privileged_uids: Vec<u32>,
    /// Priority migration.
    pub migrate_priority: Migrate,
    /// The event loop (`capbinderd --epoll` and `CAPBINDER_LOOP` override it).
    pub event_loop: LoopChoice,
    /// The loop thread's slice under the fair scheduler, in microseconds
    /// (Linux 6.12 and later; older kernels ignore it). Absent:
    /// [`SLICE_FACTOR`] times the kernel's default; 0: the kernel's
    /// default. See [`Mediator::run`](super::Mediator::run) for why.
    pub slice_us: Option<u64>,
}

/// How many times the kernel's default slice the loop thread takes when
/// the configuration names none. Measured (capbinder-rawbench, 32 B, one
/// CPU, 2-vCPU VM with a 1.4 ms default): 2 ms (1.4x) gained half of what
/// 3 ms (2.1x) did, and 3 ms and 6 ms (4.3x) measured the same; 4x stays
/// clear of where the gain ends.
pub const SLICE_FACTOR: u64 = 4;

/// The configuration could not be used; the message names key and reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or an unknown or mistyped key.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, which names the key and line.
        message: String,
    },
    /// A value out of range.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Which key and why.
        message: String,
    },
}

impl Config {
    /// Parses a configuration from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        Config::from_toml(&text, &origin)
    }

    /// Checks the limits against each other and the hard caps.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.limits
            .validate()
            .map_err(|message| ConfigError::Invalid {
                path: origin.to_string(),
                message: format!("[limits] {message}"),
            })?;
        if self.limits.send_area % 4096 != 0 || self.limits.recv_buffer % 4096 != 0 {
            return Err(ConfigError::Invalid {
                path: origin.to_string(),
                message: format!(
                    "[limits] recv_buffer = {} / send_area = {}: both must be multiples of 4096 (the page size)",
                    self.limits.recv_buffer, self.limits.send_area
                ),
            });
        }
        let range = crate::sys::sched::SLICE_RANGE_NS;
        if let Some(us) = self.slice_us.filter(|&us| us != 0) {
            if !range.contains(&us.saturating_mul(1000)) {
                return Err(ConfigError::Invalid {
                    path: origin.to_string(),
                    message: format!(
                        "slice_us = {us}: the kernel takes {} to {} microseconds (or 0 for its default)",
                        range.start() / 1000,
                        range.end() / 1000
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_defaults() {
        assert_eq!(Config::from_toml("", "t").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml("[limits]\nrecv_bufer = 4096\n", "t").unwrap_err();
        assert!(e.to_string().contains("recv_bufer"), "{e}");
    }

    #[test]
    fn out_of_range_value_names_key_and_reason() {
        let e = Config::from_toml("[limits]\nrecv_buffer = 12\n", "t").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("recv_buffer") && s.contains("4096"), "{s}");
    }

    #[test]
    fn an_unknown_event_loop_is_named() {
        let e = Config::from_toml("event_loop = \"kqueue\"\n", "t").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("event_loop") && s.contains("io_uring"), "{s}");
        for (v, want) in [
            ("auto", LoopChoice::Auto),
            ("io_uring", LoopChoice::Uring),
            ("uring", LoopChoice::Uring),
            ("epoll", LoopChoice::Epoll),
        ] {
            let c = Config::from_toml(&format!("event_loop = \"{v}\"\n"), "t").unwrap();
            assert_eq!(c.event_loop, want);
            assert_eq!(LoopChoice::parse(v), Some(want));
        }
    }

    #[test]
    fn a_slice_out_of_the_kernels_range_is_named() {
        for bad in ["slice_us = 50\n", "slice_us = 100001\n"] {
            let e = Config::from_toml(bad, "t").unwrap_err().to_string();
            assert!(e.contains("slice_us") && e.contains("100 to 100000"), "{e}");
        }
        for good in [0, 100, 3000, 100_000] {
            let c = Config::from_toml(&format!("slice_us = {good}\n"), "t").unwrap();
            assert_eq!(c.slice_us, Some(good));
        }
        assert_eq!(Config::default().slice_us, None);
    }

    #[test]
    fn settings_parse() {
        let c = Config::from_toml(
            "context_manager_uid = 7\nprivileged_uids = [3]\nmigrate_priority = \"off\"\nevent_loop = \"epoll\"\n[limits]\nthread_cap = 20\nblob_threshold = 4096\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.context_manager_uid, Some(7));
        assert_eq!(c.privileged_uids, vec![3]);
        assert_eq!(c.migrate_priority, Migrate::Off);
        assert_eq!(c.event_loop, LoopChoice::Epoll);
        assert_eq!(c.limits.thread_cap, 20);
        assert_eq!(c.limits.blob_threshold, 4096);
    }
}
