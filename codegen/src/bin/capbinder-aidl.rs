//! `capbinder-aidl`: checks AIDL files, or generates their Rust.
//!
//! ```text
//! capbinder-aidl check -I aidl aidl/com/example/IFoo.aidl
//! capbinder-aidl rust -I aidl -o out aidl/com/example/IFoo.aidl
//! ```
//!
//! Diagnostics go to stderr; the exit status is 1 when there is an error,
//! 2 for a bad command line.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use capbinder_idl::Session;
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = std::io::stderr().is_terminal();
    match cli.command {
        Command::Check(inputs) => {
            let mut s = Session::new();
            for i in &inputs.includes {
                s.add_include_dir(i);
            }
            for p in &inputs.preprocessed {
                s.add_preprocessed(p);
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
        Command::Rust {
            inputs,
            out,
            externs,
        } => {
            let mut b = capbinder_codegen::configure();
            b.emit_rerun_if_changed(false).out_dir(&out);
            for i in &inputs.includes {
                b.include(i);
            }
            for p in &inputs.preprocessed {
                b.preprocessed(p);
            }
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
