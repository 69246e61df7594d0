//! The `capbinder-aidl` command: exit codes, diagnostics on stderr, files
//! written.

use std::process::Command;

fn aidl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_capbinder-aidl"))
}

#[test]
fn check_accepts_valid_aidl_that_rust_refuses() {
    let out = aidl()
        .args([
            "check",
            "-I",
            "tests/invalid/map/aidl",
            "tests/invalid/map/aidl/p/IMap.aidl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = aidl()
        .args(["rust", "-I", "tests/invalid/map/aidl", "-o"])
        .arg(dir.path())
        .arg("tests/invalid/map/aidl/p/IMap.aidl")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not support `Map`"), "{err}");
    assert!(
        err.contains("tests/invalid/map/aidl/p/IMap.aidl:4:5"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn check_reports_syntax_errors_with_exit_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p/IBad.aidl");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, "package p;\ninterface IBad { void f( }\n").unwrap();
    let out = aidl()
        .arg("check")
        .arg("-I")
        .arg(dir.path())
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error"), "{err}");
    assert!(err.contains("IBad.aidl:2:"), "{err}");
}

#[test]
fn rust_writes_one_file_per_package_and_the_include_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = "tests/golden/packages/aidl";
    let out = aidl()
        .args(["rust", "-I", root, "-o"])
        .arg(dir.path())
        .args([
            "tests/golden/packages/aidl/net/app/IThing.aidl",
            "tests/golden/packages/aidl/net/common/Data.aidl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // imports are generated too
    assert_eq!(
        names,
        [
            "_include.rs",
            "net.app.rs",
            "net.common.mod.rs",
            "net.common.rs"
        ]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
}

#[test]
fn extern_paths_are_used_instead_of_generating() {
    let dir = tempfile::tempdir().unwrap();
    let out = aidl()
        .args(["rust", "-I", "tests/golden/packages/aidl", "-o"])
        .arg(dir.path())
        .args(["--extern", "net.common=::common_crate::net::common"])
        .arg("tests/golden/packages/aidl/net/app/IThing.aidl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("net.common.rs").exists());
    assert!(!dir.path().join("net.common.mod.rs").exists());
    let app = std::fs::read_to_string(dir.path().join("net.app.rs")).unwrap();
    assert!(app.contains("::common_crate::net::common::Data"), "{app}");
    assert!(
        app.contains("::common_crate::net::common::data::Part"),
        "{app}"
    );
    assert!(
        app.contains("::common_crate::net::common::r#mod::deep::Kind"),
        "{app}"
    );
}
