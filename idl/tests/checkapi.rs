//! The API compatibility check between two frozen versions (AOSP's
//! `aidl --checkapi`): each case in `tests/checkapi/<case>/` has an `old/`
//! and a `new/` version. With `expected.txt`, the compatible check must
//! fail with exactly those diagnostics; without it, it must pass. With
//! `expected-equal.txt`, the equal check must fail with those.
//! `CAPBINDER_BLESS=1` rewrites the expectations that exist.

use std::path::{Path, PathBuf};

use capbinder_idl::api::{check_api, ApiLevel};

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("tests/checkapi")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("old").is_dir())
        .collect();
    v.sort();
    v
}

fn run(case: &Path, level: ApiLevel, expected: &str, failures: &mut Vec<String>) {
    let bless = std::env::var_os("CAPBINDER_BLESS").is_some();
    let expected_path = case.join(expected);
    let result = check_api(&case.join("old"), &case.join("new"), &[], level);
    match (result, expected_path.exists()) {
        (Ok(_), false) => {}
        (Ok(_), true) => failures.push(format!("{}: {level:?} check passed", case.display())),
        (Err(d), false) => {
            failures.push(format!("{}: {level:?} check failed:\n{d}", case.display()))
        }
        (Err(d), true) => {
            let got = d.to_string();
            if bless {
                std::fs::write(&expected_path, &got).unwrap();
                return;
            }
            let want = std::fs::read_to_string(&expected_path).unwrap();
            if want.trim_end() != got.trim_end() {
                failures.push(format!(
                    "{}:\n--- expected\n{want}\n--- actual\n{got}",
                    expected_path.display()
                ));
            }
        }
    }
}

#[test]
fn each_case_gets_its_expected_diagnostics() {
    let cases = cases();
    assert!(cases.len() >= 12, "the cases are missing");
    let mut failures = Vec::new();
    for case in &cases {
        run(case, ApiLevel::Compatible, "expected.txt", &mut failures);
        if case.join("expected-equal.txt").exists() {
            run(case, ApiLevel::Equal, "expected-equal.txt", &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "(rerun with CAPBINDER_BLESS=1 if the change is meant)\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn a_version_is_equal_and_compatible_to_itself() {
    for case in cases() {
        for side in ["old", "new"] {
            let dir = case.join(side);
            for level in [ApiLevel::Compatible, ApiLevel::Equal] {
                if let Err(d) = check_api(&dir, &dir, &[], level) {
                    panic!("{} against itself ({level:?}):\n{d}", dir.display());
                }
            }
        }
    }
}

#[test]
fn an_empty_or_invalid_version_is_an_error_not_a_pass() {
    let empty = tempfile_dir();
    let e = check_api(
        &empty,
        Path::new("tests/checkapi/enums/new"),
        &[],
        ApiLevel::Compatible,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no `.aidl` files"), "{e}");
    let bad = tempfile_dir();
    std::fs::create_dir_all(bad.join("p")).unwrap();
    std::fs::write(bad.join("p/E.aidl"), "package p; enum E { A B }").unwrap();
    let e = check_api(
        Path::new("tests/checkapi/enums/old"),
        &bad,
        &[],
        ApiLevel::Compatible,
    )
    .unwrap_err();
    assert!(e.has_errors());
    assert!(e.to_string().contains("p/E.aidl:1:"), "{e}");
}

fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "capbinder-checkapi-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
