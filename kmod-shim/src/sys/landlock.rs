//! Landlock for the sandbox: which ABI the kernel speaks, the ruleset an app
//! gets, and the two raw calls its child process makes after the clone.
//!
//! The launcher builds one ruleset per app ([`app_ruleset`]) with the
//! `landlock` crate, before it clones: that needs allocation and error
//! handling the child must not do. Rules there are attached to inodes of
//! the host (the launcher opens `/usr`, the manifest's directories, the
//! device nodes), which the child's bind mounts show unchanged, so they hold
//! inside the minimal root too. The one thing the launcher cannot name is
//! the app's own `/proc`, a fresh procfs instance the child mounts: the
//! child adds that rule itself ([`add_path_beneath_raw`]) and then restricts
//! itself ([`restrict_self_raw`]), both plain syscalls that allocate nothing.
//!
//! The rights are those of ABI 7 ([`TARGET_ABI`]), the newest this crate
//! was tested against. Rights a later ABI adds are left unhandled on
//! purpose: ABI 9's `LANDLOCK_ACCESS_FS_RESOLVE_UNIX`, for one, would also
//! stop the app from connecting to the mediator through the fd it is given.

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::ptr;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope, ABI,
};

/// The Landlock ABI whose rights the sandbox asks for.
pub const TARGET_ABI: ABI = ABI::V7;

/// The first ABI that scopes signals and abstract Unix sockets to the
/// domain (Linux 6.12).
pub const SCOPE_ABI: u32 = 6;

/// The first ABI that restricts TCP `bind`/`connect` (Linux 6.7).
pub const NET_ABI: u32 = 4;

/// `LANDLOCK_CREATE_RULESET_VERSION`.
const CREATE_RULESET_VERSION: u32 = 1 << 0;

/// `LANDLOCK_RULE_PATH_BENEATH`.
const RULE_PATH_BENEATH: libc::c_int = 1;

/// Why Landlock cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LandlockUnavailable {
    /// `ENOSYS`: the kernel was built without it.
    #[error("Landlock is not built into this kernel (CONFIG_SECURITY_LANDLOCK)")]
    NotBuilt,
    /// `EOPNOTSUPP`: built but not enabled at boot.
    #[error("Landlock is built but disabled at boot (add landlock to the lsm= boot parameter)")]
    Disabled,
    /// Another error.
    #[error("asking the kernel for the Landlock ABI failed: errno {0}")]
    Other(i32),
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the
/// Landlock ABI version the kernel implements.
pub fn abi_version() -> Result<u32, LandlockUnavailable> {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the
    // kernel reads no memory of ours and only returns a number.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            ptr::null::<u8>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return Err(match e {
            libc::ENOSYS => LandlockUnavailable::NotBuilt,
            libc::EOPNOTSUPP => LandlockUnavailable::Disabled,
            other => LandlockUnavailable::Other(other),
        });
    }
    u32::try_from(rc).map_err(|_| LandlockUnavailable::Other(0))
}

/// What an app may touch, by kind of access. Paths are host paths; each
/// must exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRules {
    /// Read and execute (what the program needs to load: `/usr`, `/lib*`,
    /// the loader cache, the program itself).
    pub read_exec: Vec<PathBuf>,
    /// Read only (the manifest's read directories).
    pub read: Vec<PathBuf>,
    /// Read and write, no execute (the manifest's write directories).
    pub write: Vec<PathBuf>,
    /// Device nodes to read and write (`/dev/null`, `/dev/zero`).
    pub dev_rw: Vec<PathBuf>,
    /// Device nodes to read (`/dev/urandom`).
    pub dev_ro: Vec<PathBuf>,
    /// Whether TCP is left alone; otherwise every TCP `bind` and `connect`
    /// is denied (ABI 4 and later).
    pub network: bool,
}

/// A created ruleset, ready for the child to finish and enforce.
#[derive(Debug)]
pub struct AppRuleset {
    /// The ruleset fd (`O_CLOEXEC`).
    pub fd: OwnedFd,
    /// The rights the child grants beneath its fresh `/proc`.
    pub proc_access: u64,
    /// The ABI the kernel speaks.
    pub abi: u32,
}

/// Building the ruleset failed.
#[derive(Debug, thiserror::Error)]
pub enum RulesetError {
    /// The kernel has no Landlock.
    #[error(transparent)]
    Unavailable(#[from] LandlockUnavailable),
    /// A path to allow could not be opened.
    #[error("Landlock rule for {path}: {message}")]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The crate or the kernel refused the ruleset.
    #[error("creating the Landlock ruleset: {0}")]
    Create(String),
}

fn flags_bits(f: BitFlags<AccessFs>) -> u64 {
    f.bits()
}

/// Read rights: files and directory listings.
fn read_rights() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::ReadDir
}

/// Write rights for a data directory: everything of ABI 7 except
/// executing, device nodes, sockets, fifos and device ioctls.
fn write_rights() -> BitFlags<AccessFs> {
    AccessFs::from_all(TARGET_ABI)
        & !(AccessFs::Execute
            | AccessFs::MakeChar
            | AccessFs::MakeBlock
            | AccessFs::MakeSock
            | AccessFs::MakeFifo
            | AccessFs::IoctlDev)
}

/// Builds the app's ruleset: every filesystem right of ABI 7 handled (so
/// denied unless a rule grants it), TCP handled when `rules.network` is
/// false, signals and abstract Unix sockets scoped to the app (ABI 6), and
/// one rule per path in `rules`. Rights the running kernel lacks are
/// dropped (best effort); the caller decides beforehand, from
/// [`abi_version`], whether that is acceptable.
pub fn app_ruleset(rules: &AppRules) -> Result<AppRuleset, RulesetError> {
    let abi = abi_version()?;
    let create = |e: landlock::RulesetError| RulesetError::Create(e.to_string());
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))
        .map_err(create)?;
    if !rules.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET_ABI))
            .map_err(create)?;
    }
    let ruleset = ruleset.scope(Scope::from_all(TARGET_ABI)).map_err(create)?;
    let mut created = ruleset.create().map_err(create)?;
    let groups: [(&[PathBuf], BitFlags<AccessFs>); 5] = [
        (&rules.read_exec, AccessFs::from_read(TARGET_ABI)),
        (&rules.read, read_rights()),
        (&rules.write, write_rights()),
        (&rules.dev_rw, AccessFs::ReadFile | AccessFs::WriteFile),
        (&rules.dev_ro, AccessFs::ReadFile.into()),
    ];
    for (paths, access) in groups {
        for path in paths {
            created = add_path(created, path, access)?;
        }
    }
    let fd: Option<OwnedFd> = created.into();
    let fd = fd.ok_or(RulesetError::Create(
        "the landlock crate made no ruleset although the kernel has Landlock".into(),
    ))?;
    Ok(AppRuleset {
        fd,
        proc_access: flags_bits(read_rights()),
        abi,
    })
}

fn add_path(
    created: landlock::RulesetCreated,
    path: &Path,
    access: BitFlags<AccessFs>,
) -> Result<landlock::RulesetCreated, RulesetError> {
    let err = |message: String| RulesetError::Path {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    // A rule on a file may only carry rights that make sense for a file.
    let access = if meta.is_dir() {
        access
    } else {
        access & AccessFs::from_file(TARGET_ABI)
    };
    let fd = PathFd::new(path).map_err(|e| err(e.to_string()))?;
    created
        .add_rule(PathBeneath::new(fd, access))
        .map_err(|e| err(e.to_string()))
}

/// `struct landlock_path_beneath_attr` (packed, as the kernel declares it).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// `landlock_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, &{allowed,
/// parent}, 0)`: grants `allowed` beneath the file `parent` refers to.
///
/// Async-signal-safe (a plain syscall on the stack): the sandbox's child
/// calls it after the clone. Returns the errno on failure.
pub fn add_path_beneath_raw(ruleset: RawFd, parent: RawFd, allowed: u64) -> Result<(), i32> {
    let attr = PathBeneathAttr {
        allowed_access: allowed,
        parent_fd: parent,
    };
    // SAFETY: `attr` is a live `landlock_path_beneath_attr` on our stack that
    // the kernel only reads during the call; the fds are plain numbers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_PATH_BENEATH,
            ptr::addr_of!(attr),
            0u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

/// `landlock_restrict_self(ruleset, 0)`: enforces the ruleset on the calling
/// thread and everything it executes. Needs `no_new_privs` (or
/// `CAP_SYS_ADMIN`).
///
/// Async-signal-safe; returns the errno on failure.
pub fn restrict_self_raw(ruleset: RawFd) -> Result<(), i32> {
    // SAFETY: the call reads no memory of ours; the fd is a plain number.
    let rc = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) };
    if rc < 0 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_version_is_a_number_or_a_named_reason() {
        match abi_version() {
            Ok(v) => assert!(v >= 1, "{v}"),
            Err(e) => eprintln!("no Landlock here: {e}"),
        }
    }

    #[test]
    fn write_rights_never_include_execute_or_device_nodes() {
        let w = write_rights();
        assert!(!w.contains(AccessFs::Execute));
        assert!(!w.contains(AccessFs::MakeChar));
        assert!(!w.contains(AccessFs::MakeBlock));
        assert!(w.contains(AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::RemoveFile));
    }

    #[test]
    fn a_ruleset_for_real_paths_is_created() {
        if abi_version().is_err() {
            eprintln!("skipped: no Landlock");
            return;
        }
        let rules = AppRules {
            read_exec: vec!["/usr".into()],
            dev_rw: vec!["/dev/null".into()],
            ..AppRules::default()
        };
        let r = app_ruleset(&rules).unwrap();
        assert_eq!(
            r.proc_access,
            (AccessFs::ReadFile | AccessFs::ReadDir).bits()
        );
    }

    #[test]
    fn a_missing_path_is_named() {
        if abi_version().is_err() {
            eprintln!("skipped: no Landlock");
            return;
        }
        let rules = AppRules {
            read: vec!["/nonexistent/capbinder-test".into()],
            ..AppRules::default()
        };
        let e = app_ruleset(&rules).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/capbinder-test"), "{e}");
    }
}
