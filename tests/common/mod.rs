//! Helpers shared by the integration tests that run the app headless: a demo config in a temp
//! state directory, and waiting for views from the controller.

#![allow(dead_code)]

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mfp_kiosk::app::{self, Running, ViewSink};
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::View;

/// The embedded demo config with its state under `dir` and no automatic approval.
pub fn demo_config(dir: &Path) -> Config {
    let mut config = Config::demo_default();
    config.device.state_dir = dir.to_path_buf();
    config.demo.auto_approve_after_secs = 0;
    config
}

/// A multi-threaded runtime like the panel's.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts the app with a sink that records every view.
pub fn start(
    rt: &tokio::runtime::Runtime,
    config: Config,
    demo: bool,
) -> (Running, mpsc::Receiver<View>) {
    let (tx, rx) = mpsc::channel::<View>();
    let sink: ViewSink = Box::new(move |view| {
        let _ = tx.send(view.clone());
    });
    let running = rt.block_on(app::start(config, demo, sink)).unwrap();
    (running, rx)
}

/// Waits for a view matching `want`; the timeout only turns a hang into a failure.
/// `MFP_TEST_VIEWS=1` prints the views passed over on stderr.
pub fn wait_for(rx: &mpsc::Receiver<View>, what: &str, want: impl Fn(&View) -> bool) -> View {
    let deadline = Instant::now() + Duration::from_secs(60);
    let show = std::env::var_os("MFP_TEST_VIEWS").is_some();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(view) if want(&view) => return view,
            Ok(view) if show => eprintln!(
                "view passed over: {:?} {} / {}",
                view.page, view.message, view.result_title
            ),
            Ok(_) => continue,
            Err(e) => panic!("no view with {what}: {e}"),
        }
    }
}
