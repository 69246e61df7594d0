//! `idlc`: checks AIDL files and prints diagnostics or a summary of the model.
//!
//! ```text
//! cargo run -p capbinder-idl --example idlc -- -I aidl aidl/a/b/IFoo.aidl
//! ```
use capbinder_idl::Session;

fn main() {
    let mut s = Session::new();
    let mut args = std::env::args().skip(1);
    let mut any = false;
    while let Some(a) = args.next() {
        if a == "-I" {
            if let Some(dir) = args.next() {
                s.add_include_dir(dir);
            }
        } else if let Some(dir) = a.strip_prefix("-I") {
            s.add_include_dir(dir);
        } else if a == "-p" {
            if let Some(p) = args.next() {
                s.add_preprocessed(p);
            }
        } else {
            s.add_input(a);
            any = true;
        }
    }
    if !any {
        eprintln!("usage: idlc [-I dir]... [-p preprocessed.aidl]... file.aidl...");
        std::process::exit(2);
    }
    match s.check() {
        Ok(model) => {
            for t in model.input_types() {
                println!("{} ({:?})", t.qualified_name, t.decl_kind());
            }
        }
        Err(diags) => {
            use std::io::IsTerminal;
            eprint!("{}", diags.render(std::io::stderr().is_terminal()));
            std::process::exit(1);
        }
    }
}
