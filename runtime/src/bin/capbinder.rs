//! `capbinder`: look at a running capbinder context (the logic lives in
//! [`capbinder::cli`]).
//!
//! Exit codes: 0 success, 1 not found / failed call, 2 usage or connection
//! error.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(capbinder::cli::run(std::env::args_os()))
}
