//! The static musl build has no zbus: every D-Bus case says it was
//! skipped, and the roles refuse to run.

use std::path::Path;

use capbinder_kmod_shim::bench::stats::Summary;

pub use crate::dbus_kinds::{Client, Daemon};
use crate::util::Res;

const WHY: &str =
    "this is the static musl build, which links no D-Bus client (neither zbus nor libdbus)";

/// Never made in this build.
pub enum Bus {}

impl Bus {
    /// Always says why not.
    pub fn start(_: Daemon, _: &Path, _: usize, _: usize) -> Res<Bus> {
        Err(WHY.into())
    }
    /// Unreachable.
    pub fn daemon(&self) -> Daemon {
        match *self {}
    }
    /// Unreachable.
    pub fn address(&self) -> &str {
        match *self {}
    }
    /// Unreachable.
    pub fn place(&self, _: usize) -> Res<()> {
        match *self {}
    }
    /// Unreachable.
    pub fn sync_mech(&self, _: Client) -> String {
        match *self {}
    }
    /// Unreachable.
    pub fn unavailable(&self, _: Client) -> Option<&str> {
        match *self {}
    }
    /// Unreachable.
    pub fn clients(&self) -> Vec<Client> {
        match *self {}
    }
    /// Unreachable.
    pub fn sync_call(&self, _: Client, _: usize) -> Box<dyn FnMut(bool) -> Res<()> + '_> {
        match *self {}
    }
    /// Unreachable.
    pub fn pipelined_case(&self, _: Client, _: usize, _: usize) -> Res<Summary> {
        match *self {}
    }
}

impl crate::broadcast::Publisher for Bus {
    fn mech(&self) -> String {
        match *self {}
    }
    fn publish(&self, _: u64, _: bool, _: &[u8]) -> Res<()> {
        match *self {}
    }
    fn subscriber(&self) -> Res<std::process::Command> {
        match *self {}
    }
    fn place(&self, _: usize) -> Res<()> {
        match *self {}
    }
    fn queue_limit(&self) -> Option<u32> {
        match *self {}
    }
}

/// The D-Bus roles.
pub fn serve_role(_: &str) -> Res<()> {
    Err(WHY.into())
}
/// See [`serve_role`].
pub fn sub_role(_: &str) -> Res<()> {
    Err(WHY.into())
}
/// See [`serve_role`].
pub fn broker_ns_role(_: &Path, _: &Path) -> Res<()> {
    Err(WHY.into())
}
/// See [`serve_role`].
pub fn broker_exec_role(_: &Path, _: &Path) -> Res<()> {
    Err(WHY.into())
}
