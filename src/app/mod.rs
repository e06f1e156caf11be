//! Glue: builds the services from the config, runs the controller that carries out the kiosk
//! machine's effects, and bridges it to the Slint UI.

pub mod app_identity;
pub mod cli_calibrate;
pub mod cli_cards;
pub mod cli_directory;
pub mod cli_jobs;
pub mod cli_local_users;
pub mod cli_scim;
pub mod cli_service;
pub mod controller;
pub mod directory_worker;
pub mod jobs;
pub mod my_scans;
pub mod offboarding;
pub mod scan_sheet;
#[cfg(feature = "ui")]
pub mod service_bridge;
pub mod service_health;
pub mod service_local;
pub mod service_ops;
pub mod services;
#[cfg(feature = "ui")]
pub mod sheet_bridge;
pub mod signin;
#[cfg(feature = "ui")]
pub mod systemd;
#[cfg(feature = "ui")]
pub mod ui_bridge;
#[cfg(feature = "ui")]
pub mod window_bridge;

use std::sync::Arc;
use std::time::Duration;

pub use controller::{Controller, ControllerHandle, Input, ViewSink};
pub use services::{ServiceError, Services};

use crate::config::Config;
use crate::readers::wedge::WedgeSettings;

/// Why the panel could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the simulated cloud did not start: {0}")]
    Sim(String),
    #[error("no usable state directory: {0}")]
    StateDir(String),
}

/// A running controller and the services behind it.
pub struct Running {
    pub handle: ControllerHandle,
    pub services: Arc<Services>,
    pub sessions: signin::SessionTokens,
    pub controller: tokio::task::JoinHandle<()>,
    pub outbox: tokio::task::JoinHandle<()>,
    pub offboarding: tokio::task::JoinHandle<()>,
    /// The SCIM endpoint when `[scim] enabled` and it started; it stops when this is dropped.
    pub scim: Option<crate::scim::Running>,
}

/// The machine event for what a badge reader reported. The unreadable card's reason stays in
/// the reader's status (the technician's reader check); the panel only refuses the badge.
pub fn reader_event(event: crate::readers::ReaderEvent) -> crate::kiosk::Event {
    use crate::readers::ReaderEvent;
    match event {
        ReaderEvent::Card(read) => crate::kiosk::Event::CardRead {
            card: secrecy::SecretString::from(read.raw),
        },
        ReaderEvent::Unreadable { .. } => crate::kiosk::Event::CardUnreadable,
    }
}

/// Starts the configured badge readers feeding `handle`, and points the service menu's reader
/// check at them. The handles stop the readers when dropped.
pub fn start_readers(
    config: &crate::config::ReadersConfig,
    handle: &ControllerHandle,
    services: &Services,
) -> Result<Arc<crate::readers::ReaderHandles>, crate::readers::ReaderError> {
    let h = handle.clone();
    let readers = Arc::new(crate::readers::start(config, move |e| {
        h.event(reader_event(e))
    })?);
    let weak = Arc::downgrade(&readers);
    services.set_reader_status(Box::new(move || {
        weak.upgrade().map(|r| r.snapshot()).unwrap_or_default()
    }));
    Ok(readers)
}

/// Whether keys typed while the idle page shows are read as badge numbers, and with which
/// timing; `None` when they are not. Only in the demo (feature `demo` and `--demo`, where a
/// person types a number to simulate a reader) or with `readers.idle_keyboard_badges` (a desk
/// set-up whose wedge reader can't be opened through evdev). Otherwise only the grabbed,
/// configured wedge device produces badge reads: on a panel, libinput sees every keyboard the
/// `input` group can open, and a keystroke injector in the front USB port would type a known
/// badge number as a fast burst, a card tap that needs no PIN in `card` / `card_or_pin` mode.
pub fn idle_key_badges(config: &Config, demo: bool) -> Option<WedgeSettings> {
    let demo = cfg!(feature = "demo") && demo;
    (demo || config.readers.idle_keyboard_badges).then(|| wedge_settings(config, demo))
}

/// How keys typed while the idle page shows are turned into badge numbers: the configured
/// keyboard-wedge timing, or, in the demo (where a person types the badge number by hand to
/// simulate a reader), a gap long enough for human typing.
pub fn wedge_settings(config: &Config, demo: bool) -> WedgeSettings {
    match &config.readers.keyboard_wedge {
        Some(w) => WedgeSettings {
            min_length: w.min_length,
            max_length: w.max_length,
            max_key_gap: Duration::from_millis(w.max_key_gap_ms),
            terminator: match w.terminator {
                crate::config::Terminator::Enter => '\n',
                crate::config::Terminator::Tab => '\t',
            },
        },
        None if demo => WedgeSettings {
            max_key_gap: Duration::from_secs(3),
            ..WedgeSettings::default()
        },
        None => WedgeSettings::default(),
    }
}

/// Starts the simulated cloud (demo) and points the config at it.
#[cfg(feature = "demo")]
pub(crate) async fn start_sim(config: &mut Config) -> Result<crate::sim::SimCloud, StartError> {
    use crate::sim::{SimCloud, SimOptions};
    let mut opts = SimOptions::demo(config.demo_drive_dir());
    // A shorter polling interval than Entra's usual 5 s keeps the demo brisk; the client
    // honours whatever interval the server announces.
    opts.device_code_interval_secs = 2;
    if config.demo.auto_approve_after_secs > 0 {
        opts.auto_approve_after = Some(std::time::Duration::from_secs(
            config.demo.auto_approve_after_secs,
        ));
    }
    // The kiosk group of the demo tenant: a few hundred users, most with a badge.
    let (users, mut group, attrs) = crate::sim::demo_directory(300, crate::sim::DEMO_DOMAIN);
    group.members.extend(
        opts.users
            .iter()
            .filter(|u| u.upn.starts_with("alex") || u.upn.starts_with("megan"))
            .map(|u| u.oid.clone()),
    );
    opts.users.extend(users);
    opts.groups.push(group);
    opts.user_attributes = attrs;
    let sim = SimCloud::start(opts)
        .await
        .map_err(|e| StartError::Sim(e.to_string()))?;
    config.entra.authority_host = sim.authority_host().to_string();
    config.entra.tenant = sim.tenant_id().to_string();
    config.entra.client_id = sim.client_id().to_string();
    config.entra.allowed_tenants = vec![sim.tenant_id().to_string()];
    config.graph.endpoint = sim.graph_endpoint().to_string();
    if config.directory.enabled {
        crate::directory::keygen::demo_credential(config, |pem| {
            sim.register_app_certificate(pem).map(|_| ())
        })
        .map_err(|e| StartError::Sim(e.to_string()))?;
    }
    tracing::info!(authority = %config.entra.authority_host, graph = %config.graph.endpoint,
        drive = %config.demo_drive_dir().display(), "simulated Entra and Graph listening on loopback");
    Ok(sim)
}

/// Builds the services and spawns the controller and the outbox worker on the current runtime.
pub async fn start(config: Config, demo: bool, sink: ViewSink) -> Result<Running, StartError> {
    start_with_scanner(config, demo, sink, None).await
}

/// [`start`] with a scanner of the caller's (`None`: the panel's own, [`scanner_factory`]);
/// tests use it to scan from SANE's `test` backend or a recording simulated scanner.
pub async fn start_with_scanner(
    mut config: Config,
    demo: bool,
    sink: ViewSink,
    scanner: Option<services::ScannerFactory>,
) -> Result<Running, StartError> {
    // Resolve "" (the demo's "pick a per-user directory") once, so every path agrees.
    config.device.state_dir = config.state_dir();
    crate::fsmode::private_dir(&config.device.state_dir)
        .map_err(|e| StartError::StateDir(e.to_string()))?;

    #[cfg(feature = "demo")]
    let sim = if demo {
        Some(start_sim(&mut config).await?)
    } else {
        None
    };
    #[cfg(not(feature = "demo"))]
    if demo {
        return Err(StartError::Sim(
            "this build has no demo support (feature `demo`)".into(),
        ));
    }

    let scanner = scanner.unwrap_or_else(|| scanner_factory(&config, demo));
    #[allow(unused_mut)]
    let mut services = Services::new(config, scanner)?;
    #[cfg(feature = "demo")]
    {
        services.sim = sim;
    }
    let services = Arc::new(services);
    let (controller, handle) = Controller::new(services.clone(), sink);
    let sessions = controller.sessions();
    let controller = tokio::spawn(controller.run());
    let outbox = tokio::spawn(jobs::outbox_worker(services.clone(), sessions.clone()));
    let offboarding = tokio::spawn(offboarding::worker(services.clone(), handle.clone()));
    tokio::spawn(directory_worker::worker(services.clone(), handle.clone()));
    let scim = if services.config.scim.enabled {
        start_scim(&services, &handle)
    } else {
        None
    };
    Ok(Running {
        handle,
        services,
        sessions,
        controller,
        outbox,
        offboarding,
        scim,
    })
}

/// Starts the SCIM endpoint inside the panel; users it revokes have their session ended. A
/// failure to start is logged and leaves the panel running (sign-in does not depend on it).
fn start_scim(services: &Arc<Services>, handle: &ControllerHandle) -> Option<crate::scim::Running> {
    let opts = match crate::scim::Options::from_config(&services.config) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "SCIM endpoint not started");
            return None;
        }
    };
    let h = handle.clone();
    let started = crate::scim::start(
        &services.config,
        opts,
        services.store.clone(),
        services.device_key().clone(),
        move |oid| {
            h.event(crate::kiosk::Event::IdentityRevoked {
                oid: oid.to_string(),
            })
        },
    );
    started
        .map_err(|e| tracing::error!(error = %e, "SCIM endpoint not started"))
        .ok()
}

/// The scanner source of this panel: the simulated scanner in the demo, otherwise SANE (the
/// device named by `SANE_DEFAULT_DEVICE`, else the first scanner SANE finds).
pub fn scanner_factory(config: &Config, demo: bool) -> services::ScannerFactory {
    let pages = config.demo.scanner_pages;
    if demo {
        // A paper feeder takes its time; so does the simulated one, so the progress shows.
        Box::new(move || {
            Box::new(
                crate::scan::simulated::SimulatedScanner::new(pages)
                    .with_page_delay(Duration::from_millis(400)),
            )
        })
    } else {
        Box::new(|| Box::new(crate::scan::sane::SaneScanner::new(None)))
    }
}
