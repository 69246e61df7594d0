//! What the Rust backend refuses: each case in `tests/invalid/<case>/` is
//! valid AIDL (`check` accepts it) that `rust` refuses with the diagnostic
//! in `expected.txt`. `CAPBINDER_BLESS=1` rewrites the expectations.

use std::path::{Path, PathBuf};

use capbinder_idl::Session;

fn aidl_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "aidl") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn refused_constructs_get_a_clear_diagnostic() {
    let bless = std::env::var_os("CAPBINDER_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir("tests/invalid")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("aidl").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the invalid cases are missing");
    let mut failures = Vec::new();
    for case in cases {
        let root = case.join("aidl");
        let files = aidl_files(&root);
        // valid AIDL: the front end accepts it
        let mut s = Session::new();
        s.add_include_dir(&root);
        for f in &files {
            s.add_input(f);
        }
        if let Err(d) = s.check() {
            failures.push(format!("{}: `check` refused it:\n{d}", case.display()));
            continue;
        }
        let err = match capbinder_codegen::configure()
            .include(&root)
            .emit_rerun_if_changed(false)
            .generate(&files)
        {
            Ok(_) => {
                failures.push(format!("{}: `rust` accepted it", case.display()));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let expected_path = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, format!("{err}\n")).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        if want.trim_end() != err.trim_end() {
            failures.push(format!(
                "{}:\n--- expected\n{want}\n--- actual\n{err}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "(rerun with CAPBINDER_BLESS=1 if the change is meant)\n{}",
        failures.join("\n\n")
    );
}
