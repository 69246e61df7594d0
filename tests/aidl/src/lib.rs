//! End-to-end tests of code generated from AIDL: `build.rs` generates Rust
//! from `aidl/` (and from the code generator's golden inputs), the
//! `capbinder-aidl-testd` helper serves the generated interfaces in other
//! processes, and `tests/` call them through a real mediator.
#![forbid(unsafe_code)]

/// Everything generated from `aidl/`.
pub mod aidl {
    ::capbinder::include_aidl!();
}

/// The code generator's golden inputs, compiled (and linted) here.
pub mod golden {
    include!(concat!(env!("OUT_DIR"), "/golden/mod.rs"));
}

pub mod custom;
pub mod service;
