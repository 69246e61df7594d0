//! The helper process of the AIDL end-to-end tests: plays the service
//! manager or serves the generated interfaces, in its own process.
//!
//! `capbinder-aidl-testd servicemanager SOCKET`
//! `capbinder-aidl-testd service SOCKET NAME`: registers `NAME` (an
//! `ITestService`), `NAME.records.v1`, `NAME.records.v2`, and
//! `NAME.versioned.v1`, `.v2` and `.unversioned`.
//!
//! It prints `ready PID` once it serves, and exits when its standard input
//! closes (the test that started it is gone), so no helper outlives a test
//! run; with `CAPBINDER_TESTD_CLEANUP=DIR` it removes `DIR` then.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use capbinder::service_manager::{Policy, ServiceManager, ServiceManagerService};
use capbinder::{new_binder, ProcessState, Result};
use capbinder_aidl_tests::aidl::capbinder::test::{v1, v2, BnTestService};
use capbinder_aidl_tests::service::{
    RecordsV1, RecordsV2, TestService, VersionedUnversioned, VersionedV1, VersionedV2,
};
use capbinder_aidl_tests::{versioned_unversioned, versioned_v1, versioned_v2};

fn serve(role: &str, socket: &Path, name: Option<&str>) -> Result<()> {
    let ps = ProcessState::init(Some(socket))?;
    ps.set_max_threads(8)?;
    match (role, name) {
        ("servicemanager", _) => {
            let uid = rustix::process::geteuid().as_raw();
            let sm = new_binder(ServiceManagerService::new(Policy::default_for(uid)));
            ps.become_context_manager(&sm)?;
        }
        ("service", Some(name)) => {
            let sm = ServiceManager::get()?;
            sm.add_service(name, &BnTestService::new_binder(TestService::default()))?;
            sm.add_service(
                &format!("{name}.records.v1"),
                &v1::BnRecords::new_binder(RecordsV1),
            )?;
            sm.add_service(
                &format!("{name}.records.v2"),
                &v2::BnRecords::new_binder(RecordsV2),
            )?;
            sm.add_service(
                &format!("{name}.versioned.v1"),
                &versioned_v1::capbinder::test::versioned::BnVersioned::new_binder(VersionedV1),
            )?;
            sm.add_service(
                &format!("{name}.versioned.v2"),
                &versioned_v2::capbinder::test::versioned::BnVersioned::new_binder(VersionedV2),
            )?;
            sm.add_service(
                &format!("{name}.versioned.unversioned"),
                &versioned_unversioned::capbinder::test::versioned::BnVersioned::new_binder(
                    VersionedUnversioned,
                ),
            )?;
        }
        _ => {
            eprintln!("usage: capbinder-aidl-testd servicemanager SOCKET | service SOCKET NAME");
            std::process::exit(2);
        }
    }
    println!("ready {}", std::process::id());
    // Two loopers from the start: one may wait in `block` while the other
    // serves `release`.
    ps.start_thread_pool();
    // Serving ends when the mediator (in the test process) is gone: that is
    // the normal end, not an error.
    let _ = ps.join_thread_pool();
    Ok(())
}

/// Removes the directory named by `CAPBINDER_TESTD_CLEANUP`, once; the lock
/// makes whichever thread exits second wait for the first to finish.
fn cleanup() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        if let Some(dir) = std::env::var_os("CAPBINDER_TESTD_CLEANUP") {
            let _ = std::fs::remove_dir_all(dir);
        }
        *done = true;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: capbinder-aidl-testd servicemanager SOCKET | service SOCKET NAME");
        std::process::exit(2);
    }
    // The test holds our stdin; when it exits, so do we (and, if asked,
    // we remove its socket directory, which it cannot do from a static).
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        cleanup();
        std::process::exit(0);
    });
    let result = serve(
        &args[1],
        Path::new(&args[2]),
        args.get(3).map(|s| s.as_str()),
    );
    cleanup();
    if let Err(e) = result {
        eprintln!("capbinder-aidl-testd {}: {e}", args[1]);
        std::process::exit(1);
    }
}
