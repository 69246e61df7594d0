//! `fork` for a single-threaded process, for tests of what a forked child
//! may do with its parent's device (binder's `CannotUseBinderAfterFork`).
//!
//! Forking a multi-threaded process leaves the child with whatever locks
//! the other threads held (the allocator's among them), so this refuses
//! unless the caller is the process's only thread; then the child's memory
//! is consistent and it may run ordinary Rust before it exits.

use std::io;

/// `fork()`; the child runs `child` and exits with its code (`_exit`, so
/// nothing of the parent's is flushed or torn down twice; a panic is code
/// 101), and the parent waits for it and returns that code.
///
/// Goes through libc, so `pthread_atfork` handlers run (the device's pid
/// cache, `cred::current_pid`, is forgotten in the child). Fails when the
/// process has more than one thread, or if `fork` or `waitpid` fails.
pub fn fork_single_threaded(child: impl FnOnce() -> i32) -> io::Result<i32> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "fork_single_threaded: this process has {threads} threads"
        )));
    }
    // SAFETY: the process has one thread (checked just above; only this
    // thread could start another, and it is here), so no lock is held by a
    // thread the child would lack and the child's copy of memory is
    // consistent. The child leaves only through `_exit`, never returning
    // into the caller's frames or running the parent's destructors.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: `_exit` ends the child at once; nothing after it runs.
        unsafe { libc::_exit(code) }
    }
    let mut st = 0;
    loop {
        // SAFETY: `st` is a valid place for the status; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if libc::WIFEXITED(st) {
        Ok(libc::WEXITSTATUS(st))
    } else {
        Err(io::Error::other(format!(
            "the child ended abnormally (status {st:#x})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_multi_threaded_process() {
        // A second thread for sure, whatever the harness runs tests on.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let e = fork_single_threaded(|| 0).unwrap_err();
        drop(tx);
        let _ = other.join();
        assert!(e.to_string().contains("threads"), "{e}");
    }
}
