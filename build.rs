//! Compiles the Slint UI. Debug builds (and so the tests) carry Slint's element debug info,
//! which the headless UI tests need to find elements; release builds for the board leave it out.
//!
//! The translations under ui/translations/<lang>/LC_MESSAGES/mfp-kiosk.po are bundled into the
//! binary (no gettext on the board). They carry no per-component context, so one msgid is one
//! string everywhere (`slint-tr-extractor --no-default-translation-context`); the Rust-made
//! texts (crate::i18n) are looked up in the same files.
//!
//! Without the `ui` feature (the fuzz crate's build of the parsers) there is nothing to compile.

#[cfg(not(feature = "ui"))]
fn main() {}

#[cfg(feature = "ui")]
fn main() {
    let debug = std::env::var("PROFILE")
        .map(|p| p != "release")
        .unwrap_or(true);
    let config = slint_build::CompilerConfiguration::new()
        .with_debug_info(debug)
        .with_bundled_translations("ui/translations")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    slint_build::compile_with_config("ui/main.slint", config).expect("Slint UI failed to compile");
    println!("cargo:rerun-if-env-changed=PROFILE");
    // device/cross-build.sh: a linker map of the binary, where its bytes go by function (the
    // symbols are stripped from the binary, not from the map).
    println!("cargo:rerun-if-env-changed=MFP_KIOSK_LINK_MAP");
    if let Some(map) = std::env::var_os("MFP_KIOSK_LINK_MAP").filter(|m| !m.is_empty()) {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,-Map={}",
            map.to_string_lossy()
        );
    }
    println!("cargo:rerun-if-changed=ui/translations");
}
