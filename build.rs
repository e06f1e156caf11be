//! Compiles the Slint UI. Debug builds (and so the tests) carry Slint's element debug info,
//! which the headless UI tests need to find elements; release builds for the board leave it out.

fn main() {
    let debug = std::env::var("PROFILE")
        .map(|p| p != "release")
        .unwrap_or(true);
    let config = slint_build::CompilerConfiguration::new().with_debug_info(debug);
    slint_build::compile_with_config("ui/main.slint", config).expect("Slint UI failed to compile");
    println!("cargo:rerun-if-env-changed=PROFILE");
}
