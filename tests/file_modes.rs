//! File modes under a permissive umask (security review, issue 15 finding 6): whoever starts the
//! panel or its CLI, the state directory, the spool directory, the database (and its WAL), the
//! device key and spooled PDFs are private to the panel's user; a device key that others can
//! read is refused, not used and not replaced.
//!
//! The umask is process-wide, so every test of this binary runs under umask 000 (set once, before
//! anything touches the disk): the loosest a caller could leave it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Once;

use mfp_kiosk::app::{cli_jobs, scanner_factory, Services};
use mfp_kiosk::config::Config;
use mfp_kiosk::scan::pdf::PdfWriter;
use mfp_kiosk::scan::{ColorMode, RasterPage};
use mfp_kiosk::secrets::DeviceKey;

fn permissive_umask() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: umask only swaps the process's file-creation mask.
        unsafe { libc::umask(0o000) };
    });
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn config(state: &Path, spool: Option<&Path>) -> Config {
    let mut config = Config::demo_default();
    config.device.state_dir = state.to_path_buf();
    config.device.spool_dir = spool.map(Path::to_path_buf);
    config
}

fn services(config: Config) -> Services {
    let factory = scanner_factory(&config, true);
    Services::new(config, factory).unwrap()
}

/// Writes a one-page PDF where the panel spools scans, checking the hidden partial file too.
fn spool_pdf(services: &Services) -> std::path::PathBuf {
    let out = services.spool_path("0000-test");
    let mut writer = PdfWriter::create(&out).unwrap();
    let partial: Vec<_> = fs::read_dir(&services.spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert_eq!(
        mode(&partial[0]),
        0o600,
        "partial PDF {}",
        partial[0].display()
    );
    writer
        .add_page(&RasterPage {
            width_px: 16,
            height_px: 16,
            dpi: 100,
            color: ColorMode::Gray,
            data: vec![0x80; 256],
        })
        .unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn a_fresh_state_directory_is_private_under_umask_000() {
    permissive_umask();
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("var/lib/mfp-kiosk");
    let services = services(config(&state, None));
    // Writes a row, so the WAL exists.
    services.store.checkpoint().unwrap();

    assert_eq!(mode(&state), 0o700, "state dir");
    assert_eq!(mode(&root.path().join("var")), 0o700, "created parents");
    assert_eq!(mode(&services.spool_dir), 0o700, "spool dir");
    for file in ["kiosk.sqlite3", "kiosk.sqlite3-wal", "device.key"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    let pdf = spool_pdf(&services);
    assert_eq!(mode(&pdf), 0o600, "spooled PDF");
}

#[test]
fn a_custom_spool_dir_and_loose_existing_directories_are_made_private() {
    permissive_umask();
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let spool = root.path().join("spool");
    // What `mkdir -p` under umask 022 leaves behind.
    for dir in [&state, &spool] {
        fs::create_dir_all(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let services = services(config(&state, Some(&spool)));
    assert_eq!(services.spool_dir, spool);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&spool), 0o700);
    let pdf = spool_pdf(&services);
    assert_eq!(mode(&pdf), 0o600);
}

#[test]
fn the_cli_makes_a_private_state_directory_too() {
    permissive_umask();
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("cli-state");
    let mut out = Vec::new();
    cli_jobs::list_command(config(&state, None), &mut out).unwrap();
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("kiosk.sqlite3")), 0o600);
}

#[test]
fn a_loose_existing_database_is_tightened() {
    permissive_umask();
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    drop(services(config(&state, None)));
    let db = state.join("kiosk.sqlite3");
    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
    drop(services(config(&state, None)));
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn a_device_key_readable_by_others_is_refused_with_the_fix() {
    permissive_umask();
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let key = state.join("device.key");
    let fingerprint = {
        let services = services(config(&state, None));
        drop(services);
        DeviceKey::load_or_create(&key)
            .unwrap()
            .fingerprint()
            .to_string()
    };
    let bytes = fs::read(&key).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();

    let err = DeviceKey::load_or_create(&key).unwrap_err().to_string();
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("0644"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    // The panel does not start on it either, and nothing replaced the key.
    let factory = scanner_factory(&config(&state, None), true);
    let err = Services::new(config(&state, None), factory)
        .err()
        .expect("a loose key must stop the services")
        .to_string();
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert_eq!(fs::read(&key).unwrap(), bytes);
    assert_eq!(mode(&key), 0o644, "left for the administrator to decide");

    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        DeviceKey::load_or_create(&key).unwrap().fingerprint(),
        fingerprint
    );
}

/// Ownership can only be handed to another user by root (as CI runs); elsewhere this is skipped.
#[test]
fn a_device_key_or_directory_of_another_user_is_refused() {
    permissive_umask();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    drop(services(config(&state, None)));
    let key = state.join("device.key");
    let nobody = 65534;
    std::os::unix::fs::chown(&key, Some(nobody), None).unwrap();
    let err = DeviceKey::load_or_create(&key).unwrap_err().to_string();
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(
        err.contains("uid 65534") && err.contains("chown 0"),
        "{err}"
    );
    assert_eq!(fs::metadata(&key).unwrap().uid(), nobody, "not replaced");

    let foreign = root.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    std::os::unix::fs::chown(&foreign, Some(nobody), None).unwrap();
    let factory = scanner_factory(&config(&foreign, None), true);
    let err = Services::new(config(&foreign, None), factory)
        .err()
        .expect("another user's state directory must be refused")
        .to_string();
    assert!(err.contains("chown 0"), "{err}");
}
