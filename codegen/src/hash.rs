//! The hash of a frozen API version, as AOSP computes it for
//! `aidl_api/NAME/N/.hash` (`system/tools/aidl/build/hash_gen.sh`):
//!
//! ```text
//! (cd DIR && find ./ -name "*.aidl" -print0 | LC_ALL=C sort -z \
//!     | xargs -0 sha1sum && echo PREVIOUS) | sha1sum | cut -d " " -f 1
//! ```
//!
//! where `PREVIOUS` is the version before `N`, or `latest-version` for
//! version 1. The result is what `--hash` (or [`Builder::hash`]) takes and
//! what a versioned interface's `getInterfaceHash()` answers.
//!
//! [`Builder::hash`]: crate::Builder::hash

use std::io;
use std::path::{Path, PathBuf};

/// The hash of the frozen API version `version` whose `.aidl` files are
/// under `dir` (`aidl_api/NAME/N`), the same hex string AOSP's
/// `hash_gen.sh` writes into `dir/.hash`.
///
/// # Examples
///
/// ```no_run
/// let hash = capbinder_codegen::api_hash("aidl_api/my-iface/2", 2).unwrap();
/// assert_eq!(hash.len(), 40);
/// ```
pub fn api_hash(dir: impl AsRef<Path>, version: u32) -> io::Result<String> {
    let dir = dir.as_ref();
    let mut files = Vec::new();
    collect(dir, Path::new("."), &mut files)?;
    // `LC_ALL=C sort -z`: byte order of the paths as find prints them
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut listing = String::new();
    for (name, path) in &files {
        let digest = hex(&sha1(&std::fs::read(path)?));
        // sha1sum's text-mode line: digest, two spaces, the name
        listing.push_str(&format!("{digest}  {name}\n"));
    }
    let previous = if version > 1 {
        (version - 1).to_string()
    } else {
        "latest-version".to_string()
    };
    listing.push_str(&previous);
    listing.push('\n');
    Ok(hex(&sha1(listing.as_bytes())))
}

/// The hash recorded in a frozen version's `.hash` file: its last non-empty
/// line (the build system appends a line when it regenerates one).
pub fn read_api_hash(dir: impl AsRef<Path>) -> io::Result<String> {
    let text = std::fs::read_to_string(dir.as_ref().join(".hash"))?;
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}/.hash is empty", dir.as_ref().display()),
            )
        })
}

/// Every `*.aidl` file under `dir`, named as `find ./` prints it
/// (`./a/b/C.aidl`).
fn collect(dir: &Path, shown: &Path, out: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let shown_path = shown.join(&name);
        // find does not follow symlinks to directories; neither do we
        let ft = entry.file_type()?;
        if ft.is_dir() {
            collect(&path, &shown_path, out)?;
        } else if name.to_string_lossy().ends_with(".aidl") {
            out.push((shown_path.to_string_lossy().into_owned(), path));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-1, as `sha1sum` prints it before the hex.
fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same pipeline as AOSP's `hash_gen.sh`, run by the shell, where
    /// `sha1sum` and friends are there.
    fn shell_hash(dir: &Path, previous: &str) -> Option<String> {
        let script = format!(
            "cd '{}' && {{ find ./ -name '*.aidl' -print0 | LC_ALL=C sort -z | xargs -0 sha1sum && echo {previous}; }} | sha1sum | cut -d ' ' -f 1",
            dir.display()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| s.len() == 40)
    }

    #[test]
    fn api_hash_is_what_hash_gen_sh_computes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("a/B")).unwrap();
        std::fs::write(
            root.join("a/b/IFoo.aidl"),
            "package a.b;\ninterface IFoo {}\n",
        )
        .unwrap();
        std::fs::write(
            root.join("a/b/Bar.aidl"),
            "package a.b;\nparcelable Bar {}\n",
        )
        .unwrap();
        std::fs::write(root.join("a/B/Z.aidl"), "package a.B;\nenum Z { A }\n").unwrap();
        std::fs::write(root.join("a/b/notes.txt"), "not hashed").unwrap();
        let v1 = api_hash(root, 1).unwrap();
        let v3 = api_hash(root, 3).unwrap();
        assert_ne!(v1, v3, "the previous version is part of the hash");
        if let Some(sh) = shell_hash(root, "latest-version") {
            assert_eq!(v1, sh);
        }
        if let Some(sh) = shell_hash(root, "2") {
            assert_eq!(v3, sh);
        }
        // hand-checked listing, so the test means something without a shell
        let listing = format!(
            "{}  ./a/B/Z.aidl\n{}  ./a/b/Bar.aidl\n{}  ./a/b/IFoo.aidl\nlatest-version\n",
            hex(&sha1(b"package a.B;\nenum Z { A }\n")),
            hex(&sha1(b"package a.b;\nparcelable Bar {}\n")),
            hex(&sha1(b"package a.b;\ninterface IFoo {}\n")),
        );
        assert_eq!(v1, hex(&sha1(listing.as_bytes())));
    }

    #[test]
    fn the_hash_file_s_last_line_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".hash"), "old\nnew\n\n").unwrap();
        assert_eq!(read_api_hash(dir.path()).unwrap(), "new");
        std::fs::write(dir.path().join(".hash"), "\n").unwrap();
        assert!(read_api_hash(dir.path()).is_err());
    }
}
