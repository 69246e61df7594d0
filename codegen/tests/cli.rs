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
    assert!(
        err.contains("needs the key and value types of a `Map`"),
        "{err}"
    );
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

#[test]
fn check_api_exits_1_naming_the_change_and_0_when_compatible() {
    let out = aidl()
        .args([
            "check-api",
            "../idl/tests/checkapi/enums/old",
            "../idl/tests/checkapi/enums/new",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("removed enumerator from `p.E`: B"), "{err}");
    assert!(err.contains("checkapi/enums/new/p/E.aidl:2:17"), "{err}");

    let ok = |level: &str| {
        aidl()
            .args([
                "check-api",
                "--level",
                level,
                "../idl/tests/checkapi/compatible/old",
                "../idl/tests/checkapi/compatible/new",
            ])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(ok("compatible"), Some(0));
    assert_eq!(ok("equal"), Some(1));
}

#[test]
fn hash_prints_what_hash_gen_sh_computes_and_rust_takes_version_and_hash() {
    let out = aidl()
        .args(["hash", "../tests/aidl/aidl_api/versioned/2", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // the `.hash` recorded beside it was written by AOSP's pipeline
    let recorded = std::fs::read_to_string("../tests/aidl/aidl_api/versioned/2/.hash").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), recorded.trim());

    let dir = tempfile::tempdir().unwrap();
    let versioned = |options: &[&str]| {
        aidl()
            .args(["rust", "-I", "tests/golden/versioned/aidl"])
            .args(options)
            .arg("-o")
            .arg(dir.path())
            .arg("tests/golden/versioned/aidl/stable/IVersioned.aidl")
            .output()
            .unwrap()
    };
    let out = versioned(&["--version", "7", "--hash", "abc"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = std::fs::read_to_string(dir.path().join("stable.rs")).unwrap();
    assert!(code.contains("pub const VERSION: i32 = 7;"), "{code}");
    assert!(code.contains("pub const HASH: &str = \"abc\";"), "{code}");
    assert!(code.contains("pub const GET_INTERFACE_VERSION: u32 = 16777215;"));
    assert!(code.contains("pub const GET_INTERFACE_HASH: u32 = 16777214;"));

    let out = versioned(&["--version", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 0 is out of range"));
}

#[test]
fn warning_flags_turn_on_warnings_and_werror_fails() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p/Foo.aidl");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, "package p;\ninterface Foo { void f(inout int[] a); }\n").unwrap();
    let run = |flags: &[&str], cmd: &str| {
        let mut c = aidl();
        c.arg(cmd).arg("-I").arg(dir.path());
        for fl in flags {
            c.arg(fl);
        }
        if cmd == "rust" {
            c.arg("-o").arg(dir.path().join("out"));
        }
        c.arg(&f).output().unwrap()
    };
    let quiet = run(&[], "check");
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    let loud = run(&["-Weverything", "-Wno-out-array"], "check");
    assert!(loud.status.success());
    let err = String::from_utf8_lossy(&loud.stderr);
    assert!(
        err.contains("warning: interface names should start with `I`: `Foo` [-Winterface-name]"),
        "{err}"
    );
    assert!(err.contains("[-Winout-parameter]"), "{err}");
    assert!(!err.contains("[-Wout-array]"), "{err}");

    let failed = run(&["-Winterface-name", "-Werror"], "rust");
    assert_eq!(failed.status.code(), Some(1));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("error: interface names should start with `I`"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");

    let rust = run(&["-Winterface-name"], "rust");
    assert!(rust.status.success());
    assert!(String::from_utf8_lossy(&rust.stderr).contains("[-Winterface-name]"));

    let bad = run(&["-Wbogus"], "check");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn structured_and_vintf_stability_are_taken_as_aosp_spells_them() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let f = dir.path().join("p").join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, text).unwrap();
        f
    };
    let stable = write(
        "IStable.aidl",
        "package p;\n@VintfStability\ninterface IStable { void f(); }\n",
    );
    let plain = write(
        "IPlain.aidl",
        "package p;\ninterface IPlain { void f(); }\n",
    );
    let run = |args: &[&str], file: &std::path::Path| {
        aidl()
            .arg("check")
            .args(args)
            .arg("-I")
            .arg(dir.path())
            .arg(file)
            .output()
            .unwrap()
    };
    // Soong's spelling, with `=`, and the spaced one.
    let out = run(&["--structured", "--stability=vintf"], &stable);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--structured", "--stability", "vintf"], &plain);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("p.IPlain does not have VINTF level stability"),
        "{err}"
    );
    let out = run(&["--stability", "vendor"], &stable);
    assert_eq!(out.status.code(), Some(2), "a bad command line");
}
