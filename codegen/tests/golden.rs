//! Golden outputs: each case in `tests/golden/<case>/` has `.aidl` inputs
//! under `aidl/` (also the import root) and the expected generated files
//! under `expected/`. A change to the generator shows up here as a diff.
//!
//! After a deliberate change, rewrite them:
//!
//! ```text
//! CAPBINDER_BLESS=1 cargo test -p capbinder-codegen --test golden
//! ```
//!
//! The same inputs are compiled (and linted) by `tests/aidl`'s build
//! script, so every golden file is known to build without warnings.

use std::path::{Path, PathBuf};

use capbinder_codegen::GeneratedFile;

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

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("aidl").is_dir())
        .collect();
    v.sort();
    v
}

/// A builder for a case: its import root, and the settings in its
/// `options` file, if any (`version N`, `hash H`, one a line).
fn configure(case: &Path) -> capbinder_codegen::Builder {
    let mut b = capbinder_codegen::configure();
    b.include(case.join("aidl"));
    if let Ok(text) = std::fs::read_to_string(case.join("options")) {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            match line.split_once(' ') {
                Some(("version", v)) => {
                    b.version(v.trim().parse().unwrap());
                }
                Some(("hash", h)) => {
                    b.hash(h.trim());
                }
                None if line.trim().is_empty() => {}
                _ => panic!("{}: bad option line {line:?}", case.display()),
            }
        }
    }
    b
}

fn generate(case: &Path, reverse: bool) -> Vec<GeneratedFile> {
    let root = case.join("aidl");
    let mut files = aidl_files(&root);
    if reverse {
        files.reverse();
    }
    configure(case)
        .emit_rerun_if_changed(false)
        .generate(&files)
        .unwrap_or_else(|e| panic!("{}:\n{e}", case.display()))
        .files
}

/// The first line where two texts differ, with a little context.
fn first_difference(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let i = e
        .iter()
        .zip(a.iter())
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    format!(
        "line {}:\n  expected: {:?}\n  actual:   {:?}",
        i + 1,
        e.get(i).unwrap_or(&"<end of file>"),
        a.get(i).unwrap_or(&"<end of file>")
    )
}

#[test]
fn generated_code_matches_the_golden_files() {
    let bless = std::env::var_os("CAPBINDER_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases("tests/golden") {
        let files = generate(&case, false);
        let expected_dir = case.join("expected");
        if bless {
            let _ = std::fs::remove_dir_all(&expected_dir);
            std::fs::create_dir_all(&expected_dir).unwrap();
            for f in &files {
                std::fs::write(expected_dir.join(&f.name), &f.contents).unwrap();
            }
            continue;
        }
        let mut expected: Vec<String> = std::fs::read_dir(&expected_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_dir.display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        expected.sort();
        let mut actual: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        actual.sort();
        if expected != actual {
            failures.push(format!(
                "{}: expected files {expected:?}, generated {actual:?}",
                case.display()
            ));
            continue;
        }
        for f in &files {
            let want = std::fs::read_to_string(expected_dir.join(&f.name)).unwrap();
            if want != f.contents {
                failures.push(format!(
                    "{}/{}: {}",
                    case.display(),
                    f.name,
                    first_difference(&want, &f.contents)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "generated code differs from the golden files (rerun with CAPBINDER_BLESS=1 if the change is meant):\n{}",
        failures.join("\n")
    );
}

#[test]
fn output_does_not_depend_on_input_order_or_runs() {
    for case in cases("tests/golden") {
        let a = generate(&case, false);
        let b = generate(&case, true);
        let c = generate(&case, false);
        assert_eq!(a, b, "{}: input order changed the output", case.display());
        assert_eq!(a, c, "{}: two runs differ", case.display());
    }
}

#[test]
fn generated_files_name_their_sources_and_hold_no_absolute_paths() {
    for case in cases("tests/golden") {
        let cwd = std::env::current_dir().unwrap();
        for f in generate(&case, false) {
            let first = f.contents.lines().next().unwrap_or("");
            assert!(
                first.starts_with("// @generated by capbinder-codegen")
                    && first.ends_with("Do not edit."),
                "{}: header {first:?}",
                f.name
            );
            assert!(!f.contents.contains(&*cwd.to_string_lossy()), "{}", f.name);
            assert!(!f.contents.contains("unsafe"), "{}", f.name);
        }
    }
}

#[test]
fn unformatted_output_is_the_same_code() {
    for case in cases("tests/golden") {
        let root = case.join("aidl");
        let files = aidl_files(&root);
        let raw = configure(&case)
            .emit_rerun_if_changed(false)
            .format(false)
            .generate(&files)
            .unwrap()
            .files;
        for (raw, formatted) in raw.iter().zip(generate(&case, false)) {
            assert_eq!(raw.name, formatted.name);
            // formatting the raw file gives the formatted one
            let (header, body) = raw.contents.split_once("\n\n").unwrap();
            let file = syn::parse_file(body).unwrap_or_else(|e| panic!("{}: {e}", raw.name));
            assert_eq!(
                format!("{header}\n\n{}", prettyplease::unparse(&file)),
                formatted.contents,
                "{}",
                raw.name
            );
        }
    }
}
