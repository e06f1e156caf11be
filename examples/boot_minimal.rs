//! The reference app of the QEMU boot test (device/qemu/boot-test.sh): a minimal Slint window,
//! built the way the panel is (same crate features, so the same backend and renderer, release
//! profile, cross-compiled), started in the same guest the same way. It draws one page of text
//! and logs its first frame exactly as the panel does (`first frame since_start_ms=N`, counted
//! from the process start the kernel recorded), then idles until it is killed. The boot test
//! reads both processes' idle RSS and first-frame times and prints their ratios.
//!
//! `cargo build --release --example boot_minimal` (with the board's features via
//! `FEATURES=kiosk,demo device/cross-build.sh aarch64 --example boot_minimal`).

use slint::ComponentHandle;

slint::slint! {
    export component MinimalWindow inherits Window {
        preferred-width: 1024px;
        preferred-height: 600px;
        background: #f4f6f8;
        Text { text: "Minimal Slint window"; font-size: 32px; }
    }
}

fn main() -> Result<(), slint::PlatformError> {
    let window = MinimalWindow::new()?;
    // Queued before the loop runs, as the panel's app::systemd::on_first_frame does: the
    // linuxkms loop presents pending redraws before it dispatches queued callbacks.
    slint::invoke_from_event_loop(|| match mfp_kiosk::app::systemd::since_process_start() {
        Ok(t) => eprintln!("boot_minimal: first frame since_start_ms={}", t.as_millis()),
        Err(e) => eprintln!("boot_minimal: first frame (start-up time unknown: {e})"),
    })
    .map_err(|e| slint::PlatformError::Other(e.to_string()))?;
    window.run()
}
