//! Generates the benchmark's AIDL interface (the `capbinder-aidl` case).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    capbinder_codegen::configure()
        .include("aidl")
        .compile(&["aidl/capbinder/bench/IBenchEcho.aidl"])?;
    Ok(())
}
