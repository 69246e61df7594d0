//! End-to-end tests of code generated from AIDL: `build.rs` generates Rust
//! from `aidl/` (and from the code generator's golden inputs), the
//! `capbinder-aidl-testd` helper serves the generated interfaces in other
//! processes, and `tests/` call them through a real mediator.
#![forbid(unsafe_code)]

/// Everything generated from `aidl/`.
pub mod aidl {
    ::capbinder::include_aidl!();
}

/// `aidl_api/versioned/1`, generated as version 1 with its frozen hash.
pub mod versioned_v1 {
    include!(concat!(env!("OUT_DIR"), "/versioned_v1/_include.rs"));
}

/// `aidl_api/versioned/2`, generated as version 2 with its frozen hash.
pub mod versioned_v2 {
    include!(concat!(env!("OUT_DIR"), "/versioned_v2/_include.rs"));
}

/// `aidl_api/versioned/1` generated without a version or hash: a service
/// from before versioning, which knows neither meta method.
pub mod versioned_unversioned {
    include!(concat!(
        env!("OUT_DIR"),
        "/versioned_unversioned/_include.rs"
    ));
}

/// The code generator's golden inputs, compiled (and linted) here.
pub mod golden {
    include!(concat!(env!("OUT_DIR"), "/golden/mod.rs"));
}

pub mod custom;
pub mod service;
