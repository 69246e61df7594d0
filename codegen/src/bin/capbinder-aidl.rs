//! `capbinder-aidl`: checks AIDL files, or generates their Rust.
//!
//! ```text
//! capbinder-aidl check -I aidl aidl/com/example/IFoo.aidl
//! capbinder-aidl rust -I aidl -o out aidl/com/example/IFoo.aidl
//! capbinder-aidl rust --structured --stability vintf -I aidl -o out FILE...
//! capbinder-aidl rust -I aidl_api/foo/2 --version 2 --hash HASH -o out FILE...
//! capbinder-aidl check-api aidl_api/foo/1 aidl_api/foo/2
//! capbinder-aidl hash aidl_api/foo/2 2
//! ```
//!
//! Diagnostics go to stderr; the exit status is 1 when there is an error,
//! 2 for a bad command line.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use capbinder_idl::api::{check_api, ApiLevel};
use capbinder_idl::{Session, Stability};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "capbinder-aidl",
    version,
    about = "Checks AIDL files and generates Rust for capbinder"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Inputs {
    /// An import root: `import a.b.C;` finds DIR/a/b/C.aidl.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    includes: Vec<PathBuf>,
    /// A preprocessed declarations file (like framework.aidl).
    #[arg(short = 'p', long = "preprocessed", value_name = "FILE")]
    preprocessed: Vec<PathBuf>,
    /// A warning flag as AOSP's aidl takes it: `-Weverything`, `-WNAME`,
    /// `-Wno-NAME`, `-Werror`.
    #[arg(short = 'W', value_name = "WARNING", allow_hyphen_values = true)]
    warnings: Vec<String>,
    /// Every parcelable must be declared in AIDL (AOSP's `--structured`).
    #[arg(long)]
    structured: bool,
    /// Every type must be this stable: `vintf` (AOSP's `--stability`).
    #[arg(long, value_name = "LEVEL", value_parser = Stability::parse)]
    stability: Option<Stability>,
    /// The .aidl files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Checks the files (what `rust` would refuse is not an error here).
    Check(Inputs),
    /// Generates Rust: one file per package and `_include.rs`.
    Rust {
        #[command(flatten)]
        inputs: Inputs,
        /// The output directory.
        #[arg(short = 'o', long = "out", value_name = "OUTDIR")]
        out: PathBuf,
        /// Uses existing Rust for an AIDL package: PACKAGE=RUST_PATH.
        #[arg(long = "extern", value_name = "PACKAGE=PATH")]
        externs: Vec<String>,
        /// The interfaces' version: adds `getInterfaceVersion()`.
        #[arg(long = "version", value_name = "N")]
        version: Option<u32>,
        /// The interfaces' hash: adds `getInterfaceHash()`.
        #[arg(long = "hash", value_name = "HASH")]
        hash: Option<String>,
    },
    /// Checks that NEW_DIR is a compatible (or equal) version of the frozen
    /// API in OLD_DIR, like `aidl --checkapi`.
    CheckApi {
        /// An import root for types the versions use but do not declare.
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        includes: Vec<PathBuf>,
        /// `compatible` (new may extend old) or `equal`.
        #[arg(long = "level", value_name = "LEVEL", default_value = "compatible", value_parser = ["compatible", "equal"])]
        level: String,
        /// The older frozen version (`aidl_api/NAME/N`).
        old: PathBuf,
        /// The newer version.
        new: PathBuf,
    },
    /// Prints the hash of a frozen version, as AOSP's `hash_gen.sh`
    /// computes it for `aidl_api/NAME/N/.hash`.
    Hash {
        /// The frozen version's directory.
        dir: PathBuf,
        /// Its version number.
        version: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = std::io::stderr().is_terminal();
    match cli.command {
        Command::Check(inputs) => {
            let mut s = Session::new();
            s.set_structured(inputs.structured)
                .set_stability(inputs.stability.unwrap_or_default());
            for i in &inputs.includes {
                s.add_include_dir(i);
            }
            for p in &inputs.preprocessed {
                s.add_preprocessed(p);
            }
            for w in &inputs.warnings {
                if let Err(e) = s.add_warning_flag(w) {
                    eprintln!("error: -W{w}: {e}");
                    return ExitCode::from(2);
                }
            }
            for f in &inputs.files {
                s.add_input(f);
            }
            match s.check() {
                Ok(model) => {
                    if !model.warnings().is_empty() {
                        eprint!("{}", model.warnings().render(color));
                    }
                    ExitCode::SUCCESS
                }
                Err(d) => {
                    eprint!("{}", d.render(color));
                    ExitCode::from(1)
                }
            }
        }
        Command::CheckApi {
            includes,
            level,
            old,
            new,
        } => {
            let level = if level == "equal" {
                ApiLevel::Equal
            } else {
                ApiLevel::Compatible
            };
            match check_api(&old, &new, &includes, level) {
                Ok(warnings) => {
                    if !warnings.is_empty() {
                        eprint!("{}", warnings.render(color));
                    }
                    ExitCode::SUCCESS
                }
                Err(d) => {
                    eprint!("{}", d.render(color));
                    ExitCode::from(1)
                }
            }
        }
        Command::Hash { dir, version } => match capbinder_codegen::api_hash(&dir, version) {
            Ok(h) => {
                println!("{h}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: hashing {}: {e}", dir.display());
                ExitCode::from(1)
            }
        },
        Command::Rust {
            inputs,
            out,
            externs,
            version,
            hash,
        } => {
            let mut b = capbinder_codegen::configure();
            b.emit_rerun_if_changed(false).out_dir(&out);
            if let Some(v) = version {
                b.version(v);
            }
            if let Some(h) = hash {
                b.hash(h);
            }
            for i in &inputs.includes {
                b.include(i);
            }
            for p in &inputs.preprocessed {
                b.preprocessed(p);
            }
            for w in &inputs.warnings {
                b.warning_flag(w);
            }
            b.structured(inputs.structured)
                .stability(inputs.stability.unwrap_or_default());
            for e in &externs {
                let Some((pkg, path)) = e.split_once('=') else {
                    eprintln!("error: --extern {e}: write PACKAGE=RUST_PATH");
                    return ExitCode::from(2);
                };
                b.extern_path(pkg, path);
            }
            match b.compile(&inputs.files) {
                Ok(g) => {
                    for w in &g.warnings {
                        eprintln!("{w}");
                    }
                    for f in &g.files {
                        println!("{}", out.join(&f.name).display());
                    }
                    ExitCode::SUCCESS
                }
                Err(capbinder_codegen::Error::Aidl(d)) => {
                    eprint!("{}", d.render(color));
                    ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
