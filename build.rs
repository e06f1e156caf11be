//! Compiles the Slint UI. Debug builds (and so the tests) carry Slint's element debug info,
//! which the headless UI tests need to find elements; release builds for the board leave it out.
//!
//! The translations under ui/translations/<lang>/LC_MESSAGES/mfp-kiosk.po are bundled into the
//! binary (no gettext on the board). They carry no per-component context, so one msgid is one
//! string everywhere (`slint-tr-extractor --no-default-translation-context`); the Rust-made
//! texts (crate::i18n) are looked up in the same files.

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
    // The board builds (device/cross-env.sh) pack the binary's relative relocations (DT_RELR,
    // glibc >= 2.36, binutils >= 2.38): ~0.9 MB of a PIE's RELA entries become a few KB, and
    // the binary stays position-independent. Opt-in, as older toolchains reject the flag.
    println!("cargo:rerun-if-env-changed=MFP_KIOSK_PACK_RELOCS");
    if std::env::var_os("MFP_KIOSK_PACK_RELOCS").is_some_and(|v| v == "1")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        println!("cargo:rustc-link-arg-examples=-Wl,-z,pack-relative-relocs");
    }
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
