//! The D-Bus daemons and client libraries the benchmark names, shared by
//! the D-Bus module and the musl build's stand-in for it (which names
//! them in its "skipped" notes).

/// Which bus daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    /// The reference implementation.
    DbusDaemon,
    /// dbus-broker.
    Broker,
}

impl Daemon {
    /// Its name in `RESULT` lines.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::DbusDaemon => "dbus-daemon",
            Daemon::Broker => "dbus-broker",
        }
    }
}

/// Which client library makes a sync call; the server is zbus for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// zbus, pure Rust (every other D-Bus case uses it too).
    Zbus,
    /// libdbus-1, the reference C library (through the `dbus` crate).
    Libdbus,
}

impl Client {
    /// Both, zbus first.
    pub const ALL: [Client; 2] = [Client::Zbus, Client::Libdbus];
}
