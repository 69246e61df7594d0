//! The sandbox's seccomp filters: built in the launcher with `seccompiler`,
//! installed by the app's child process as its last step before `execve`
//! ([`install_raw`], a plain syscall that allocates nothing).
//!
//! An app gets three filters, all of which the kernel runs on every
//! syscall (the strictest answer wins):
//!
//! 1. **deny** ([`deny_filter`]), `EPERM` for: `ptrace` and
//!    `process_vm_readv`/`writev`; `io_uring_setup`/`enter`/`register`;
//!    `keyctl`, `add_key`, `request_key`; `setns`; `unshare` and `clone`
//!    with any namespace flag; the mount API (`mount`, `umount2`,
//!    `pivot_root`, `chroot`, `open_tree`, `move_mount`, `fsopen`,
//!    `fsconfig`, `fsmount`, `fspick`, `mount_setattr`); `bpf`,
//!    `perf_event_open`, `userfaultfd`; module and kexec loading;
//!    `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)` (typing into the launcher's
//!    terminal); and, unless the manifest allows the network, `socket` and
//!    `socketpair` for any family but `AF_UNIX` (a new network namespace
//!    already cuts IP, but not `AF_VSOCK`, which no namespace confines).
//! 2. **clone3** ([`clone3_filter`]): `ENOSYS`, so that libc falls back to
//!    `clone`, whose flags filter 1 can read (`clone3` passes them in
//!    memory, out of a filter's reach). Threads still start.
//! 3. **x32** (x86-64 only, [`x32_filter`]): `ENOSYS` for syscall numbers
//!    with `__X32_SYSCALL_BIT`, which would otherwise reach the same
//!    kernel code under numbers filter 1 does not list.
//!
//! Every other syscall is allowed: the filter is a wall around the few
//! calls that reach past the app's uid, namespaces and Landlock domain,
//! not an allow list of what apps may do.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// Building a filter failed (an unsupported architecture, or a bug here).
#[derive(Debug, thiserror::Error)]
#[error("building the seccomp filter: {0}")]
pub struct FilterError(String);

fn fe(e: impl std::fmt::Display) -> FilterError {
    FilterError(e.to_string())
}

/// The namespace flags `clone` and `unshare` may not carry.
pub const NAMESPACE_FLAGS: [u64; 8] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    // CLONE_NEWTIME (0x80) shares its bit with clone's exit-signal byte, so
    // it is only checked for unshare.
    libc::CLONE_NEWTIME as u64,
];

/// Syscalls denied whatever their arguments.
const DENIED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
];

fn arch() -> Result<TargetArch, FilterError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(fe)
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, FilterError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(fe)
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, FilterError> {
    SeccompRule::new(conds).map_err(fe)
}

/// One rule per namespace flag: "argument `arg` has this bit set".
fn any_namespace_flag(arg: u8, with_newtime: bool) -> Result<Vec<SeccompRule>, FilterError> {
    NAMESPACE_FLAGS
        .iter()
        .filter(|&&f| with_newtime || f != libc::CLONE_NEWTIME as u64)
        .map(|&f| rule(vec![cond(arg, SeccompCmpOp::MaskedEq(f), f)?]))
        .collect()
}

/// Filter 1: `EPERM` for the calls listed in the module doc; `network`
/// leaves `socket`/`socketpair` alone.
pub fn deny_filter(network: bool) -> Result<BpfProgram, FilterError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for &nr in DENIED {
        rules.insert(nr, Vec::new());
    }
    rules.insert(libc::SYS_unshare, any_namespace_flag(0, true)?);
    rules.insert(libc::SYS_clone, any_namespace_flag(0, false)?);
    // The request's type is `c_ulong` on glibc, `c_int` elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let (tiocsti, tioclinux) = (libc::TIOCSTI as u64, libc::TIOCLINUX as u64);
    rules.insert(
        libc::SYS_ioctl,
        vec![
            rule(vec![cond(1, SeccompCmpOp::Eq, tiocsti)?])?,
            rule(vec![cond(1, SeccompCmpOp::Eq, tioclinux)?])?,
        ],
    );
    if !network {
        let not_unix = || -> Result<Vec<SeccompRule>, FilterError> {
            Ok(vec![rule(vec![cond(
                0,
                SeccompCmpOp::Ne,
                libc::AF_UNIX as u64,
            )?])?])
        };
        rules.insert(libc::SYS_socket, not_unix()?);
        rules.insert(libc::SYS_socketpair, not_unix()?);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch()?,
    )
    .map_err(fe)?;
    BpfProgram::try_from(filter).map_err(fe)
}

/// Filter 2: `clone3` answers `ENOSYS`.
pub fn clone3_filter() -> Result<BpfProgram, FilterError> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        [(libc::SYS_clone3, Vec::new())].into_iter().collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(fe)?;
    BpfProgram::try_from(filter).map_err(fe)
}

/// `__X32_SYSCALL_BIT`.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Filter 3 (x86-64): `ENOSYS` for x32 syscall numbers. `None` elsewhere.
///
/// Written by hand: `seccompiler` keys rules by exact syscall number.
pub fn x32_filter() -> Option<BpfProgram> {
    if std::env::consts::ARCH != "x86_64" {
        return None;
    }
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    // struct seccomp_data { int nr; ... }: the syscall number is at offset 0.
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    Some(vec![
        insn(LD_W_ABS, 0, 0, 0),
        insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ])
}

/// Every filter an app gets, in the order the child installs them.
pub fn app_filters(network: bool) -> Result<Vec<BpfProgram>, FilterError> {
    let mut v = vec![deny_filter(network)?, clone3_filter()?];
    v.extend(x32_filter());
    Ok(v)
}

/// `struct sock_fprog`, pointing into a [`BpfProgram`] the caller keeps
/// alive until [`install_raw`] returns.
#[repr(C)]
#[derive(Debug)]
pub struct SockFprog {
    len: u16,
    filter: *const sock_filter,
}

impl SockFprog {
    /// Points at `prog`; fails when it is longer than a filter may be.
    pub fn new(prog: &[sock_filter]) -> io::Result<SockFprog> {
        let len = u16::try_from(prog.len())
            .ok()
            .filter(|&n| n > 0 && n <= 4096)
            .ok_or_else(|| io::Error::other("a seccomp filter holds 1 to 4096 instructions"))?;
        Ok(SockFprog {
            len,
            filter: prog.as_ptr(),
        })
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)`: installs a filter on the
/// calling thread (needs `no_new_privs` or `CAP_SYS_ADMIN`).
///
/// Async-signal-safe; returns the errno on failure.
///
/// # Safety
///
/// The program `prog` points at must still be alive (its [`BpfProgram`] not
/// dropped or moved).
pub unsafe fn install_raw(prog: &SockFprog) -> Result<(), i32> {
    // SAFETY: `prog` is a live `sock_fprog` whose filter pointer is valid for
    // `len` instructions (the caller's promise); the kernel copies the
    // program during the call and keeps no pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            prog as *const SockFprog,
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

/// Whether the kernel can run seccomp filters that return an errno
/// (`/proc/sys/kernel/seccomp/actions_avail` lists `errno`).
pub fn filters_available() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
        .map(|s| s.split_whitespace().any(|a| a == "errno"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_build_for_this_architecture() {
        let f = app_filters(false).unwrap();
        assert!(f.len() >= 2);
        for p in &f {
            SockFprog::new(p).unwrap();
        }
        // The network filter adds rules, so it is longer than the other.
        assert!(deny_filter(false).unwrap().len() > deny_filter(true).unwrap().len());
    }

    #[test]
    fn an_empty_program_is_refused() {
        assert!(SockFprog::new(&[]).is_err());
    }
}
