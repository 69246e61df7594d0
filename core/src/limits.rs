//! Limits: the numbers that turn a flood into an error for the flooder. One
//! `Limits` value is in force per mediator and is sent to every process in
//! the handshake.

use serde::{Deserialize, Serialize};

/// Per-process and global limits. Defaults follow binder and libbinder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Receive buffer per process, bytes (binder's 1 MiB).
    pub recv_buffer: u64,
    /// Send area per thread, bytes; larger payloads go as blobs.
    pub send_area: u64,
    /// Largest blob, bytes.
    pub max_blob: u64,
    /// Objects in one transaction.
    pub max_objects: usize,
    /// File descriptors in one transaction (`SCM_MAX_FD`).
    pub max_fds: usize,
    /// Default maximum pool threads a process may be asked to spawn.
    pub default_max_threads: u32,
    /// Cap on pool threads and thread channels per process.
    pub thread_cap: u32,
    /// References one process may hold.
    pub max_refs: usize,
    /// Calls one process may have pending (sync awaiting a reply, oneway
    /// not yet freed by the receiver).
    pub max_pending: usize,
    /// File descriptors one process may have in undelivered transactions.
    pub max_fds_in_flight: usize,
    /// Payloads at least this large travel as blobs when the client can.
    pub blob_threshold: u64,
    /// Topics one process may create.
    pub max_topics: usize,
}

/// The largest receive buffer a configuration may ask for.
pub const MAX_RECV_BUFFER: u64 = 64 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            recv_buffer: 1 << 20,
            send_area: 256 << 10,
            max_blob: 1 << 30,
            max_objects: 1024,
            max_fds: 253,
            default_max_threads: 15,
            thread_cap: 256,
            max_refs: 100_000,
            max_pending: 1_000,
            max_fds_in_flight: 1_024,
            blob_threshold: 256 << 10,
            max_topics: 64,
        }
    }
}

impl Limits {
    /// Checks the values against each other and the hard caps; the error
    /// names the key and the reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.recv_buffer < 4096 || self.recv_buffer > MAX_RECV_BUFFER {
            return Err(format!(
                "recv_buffer = {}: must be between 4096 and {MAX_RECV_BUFFER} bytes",
                self.recv_buffer
            ));
        }
        if self.send_area < 4096 || self.send_area > MAX_RECV_BUFFER {
            return Err(format!(
                "send_area = {}: must be between 4096 and {MAX_RECV_BUFFER} bytes",
                self.send_area
            ));
        }
        if self.max_fds > 253 {
            return Err(format!(
                "max_fds = {}: at most 253 fds fit one message (SCM_MAX_FD)",
                self.max_fds
            ));
        }
        if self.default_max_threads > self.thread_cap {
            return Err(format!(
                "default_max_threads = {}: above thread_cap = {}",
                self.default_max_threads, self.thread_cap
            ));
        }
        if self.max_pending == 0 || self.max_refs == 0 {
            return Err("max_pending and max_refs must be at least 1".into());
        }
        Ok(())
    }
}
