//! Generates the examples' interfaces from `aidl/`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    capbinder_codegen::configure()
        .include("aidl")
        .compile(&["aidl/example/IEcho.aidl"])?;
    Ok(())
}
