//! App identities: one uid per app name, allocated from a range and kept
//! in an allocation file (`<state dir>/uids.toml`), so an app keeps its uid
//! (and so its files and its policy entries) across runs, and two names
//! never share one (a hash of the name could collide). One file per
//! sandbox state directory, locked (`flock`) while it is read and written.
//!
//! ```toml
//! [apps]
//! player = 10000
//! contacts = 10001
//! ```
//!
//! The gid is the uid. A uid that `/etc/passwd` already gives a user is
//! skipped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The uids apps are given: `first ..= last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UidRange {
    /// The first uid.
    pub first: u32,
    /// The last uid (inclusive).
    pub last: u32,
}

impl Default for UidRange {
    /// `10000 ..= 19999`, Android's first app uid onwards.
    fn default() -> UidRange {
        UidRange {
            first: 10000,
            last: 19999,
        }
    }
}

impl std::str::FromStr for UidRange {
    type Err = String;

    /// `FIRST-LAST`, e.g. `10000-19999`.
    fn from_str(s: &str) -> Result<UidRange, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?}: write the uid range as FIRST-LAST"))?;
        let first: u32 = a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?;
        let last: u32 = b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?;
        if first == 0 || first > last || last >= 0xffff_fffe {
            return Err(format!(
                "{s:?}: the range must not be empty, contain 0 (root) or reach 4294967294"
            ));
        }
        Ok(UidRange { first, last })
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Allocations {
    #[serde(default)]
    apps: BTreeMap<String, u32>,
}

/// The allocation file.
#[derive(Clone, Debug)]
pub struct UidTable {
    path: PathBuf,
    range: UidRange,
}

fn ctx(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{}: {e}", path.display()))
}

impl UidTable {
    /// The table in `state_dir`, allocating from `range`.
    pub fn new(state_dir: &Path, range: UidRange) -> UidTable {
        UidTable {
            path: state_dir.join("uids.toml"),
            range,
        }
    }

    fn open_locked(&self) -> io::Result<File> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ctx(dir, e))?;
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| ctx(&self.path, e))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| ctx(&self.path, e))?;
        Ok(f)
    }

    fn read(&self, f: &mut File) -> io::Result<Allocations> {
        let mut text = String::new();
        f.read_to_string(&mut text)
            .map_err(|e| ctx(&self.path, e))?;
        toml::from_str(&text).map_err(|e| ctx(&self.path, e))
    }

    /// The uid of `name`, allocating the lowest free one on first use.
    pub fn uid_for(&self, name: &str) -> io::Result<u32> {
        let mut f = self.open_locked()?;
        let mut table = self.read(&mut f)?;
        if let Some(&uid) = table.apps.get(name) {
            return Ok(uid);
        }
        let taken: std::collections::HashSet<u32> = table.apps.values().copied().collect();
        let system = system_uids();
        let uid = (self.range.first..=self.range.last)
            .find(|u| !taken.contains(u) && !system.contains(u))
            .ok_or_else(|| {
                io::Error::other(format!(
                    "{}: every uid in {}-{} is taken; widen the range (--uids) or remove apps from the file",
                    self.path.display(),
                    self.range.first,
                    self.range.last
                ))
            })?;
        table.apps.insert(name.to_string(), uid);
        let text = toml::to_string(&table).map_err(|e| ctx(&self.path, e))?;
        f.set_len(0).map_err(|e| ctx(&self.path, e))?;
        f.rewind().map_err(|e| ctx(&self.path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| ctx(&self.path, e))?;
        Ok(uid)
    }

    /// The uid of `name` if it has one.
    pub fn lookup(&self, name: &str) -> io::Result<Option<u32>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let mut f = self.open_locked()?;
        Ok(self.read(&mut f)?.apps.get(name).copied())
    }
}

/// Uids `/etc/passwd` names.
pub(crate) fn system_uids() -> std::collections::HashSet<u32> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_gets_its_own_uid_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let range = UidRange {
            first: 70000,
            last: 70002,
        };
        let t = UidTable::new(dir.path(), range);
        let a = t.uid_for("player").unwrap();
        let b = t.uid_for("contacts").unwrap();
        assert_ne!(a, b);
        assert_eq!(t.uid_for("player").unwrap(), a);
        assert_eq!(
            UidTable::new(dir.path(), range).lookup("contacts").unwrap(),
            Some(b)
        );
        assert_eq!(t.lookup("nobody-here").unwrap(), None);
        t.uid_for("third").unwrap();
        let e = t.uid_for("fourth").unwrap_err();
        assert!(e.to_string().contains("taken"), "{e}");
    }

    #[test]
    fn ranges_parse_and_refuse_root() {
        assert_eq!(
            "10000-19999".parse::<UidRange>().unwrap(),
            UidRange::default()
        );
        assert!("0-10".parse::<UidRange>().is_err());
        assert!("20-10".parse::<UidRange>().is_err());
        assert!("10000".parse::<UidRange>().is_err());
    }
}
