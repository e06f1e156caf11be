//! A full disk on the panel: the state directory (database, device key, spool) on a 4 MB tmpfs
//! mounted in a private mount namespace of the child processes, so nothing outside the test
//! sees it. With two scans queued, the filesystem is filled, and a colour scan that does not
//! fit ends with the plain sentence, leaving no partial file; the queued scans still go out
//! byte for byte, `doctor` reports the free space, and the next scan works.
#![cfg(feature = "demo")]

mod outbox_support;

use std::process::Command;

use mfp_kiosk::admin::storage::STORAGE_FULL_MESSAGE;
use outbox_support::*;

/// The demo's two workflows plus a colour one that makes a few-MB document.
fn config(sim: &mfp_kiosk::sim::SimCloud, state: &std::path::Path) -> String {
    let mut text = panel_config(sim, state);
    text.push_str(
        r#"
[[workflows]]
id = "colour"
label = "Colour"
destination = "onedrive"
folder = "Colour"
file_name = "Colour {seq}.pdf"
resolution_dpi = 300
color_mode = "color"
source = "adf"
"#,
    );
    text
}

fn can_mount() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_does_not_fit_says_so_removes_its_partial_file_and_the_panel_carries_on() {
    if !can_mount() {
        eprintln!("skipped: a private mount namespace needs root (CI runs as root)");
        return;
    }
    let (sim, dir) = start_sim(|_| {}).await;
    let upn = "adele@contoso.example";
    // Provisioned on the ordinary disk, copied onto the small filesystem by the script.
    let (config_path, oid) = provisioned_panel(&sim, dir.path(), upn).await;
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let online = dir.path().join("online.toml");
    std::fs::write(&online, config(&sim, &small)).unwrap();

    // Two scans waiting in the outbox, recorded where they will be on the small filesystem.
    let services = mfp_kiosk::app::Services::new(
        mfp_kiosk::config::Config::load(&config_path).unwrap(),
        mfp_kiosk::app::scanner_factory(&mfp_kiosk::config::Config::demo_default(), true),
    )
    .unwrap();
    let mut queued = Vec::new();
    for n in 0..2u64 {
        let id = uuid::Uuid::new_v4();
        let name = format!("{id}.pdf");
        let (_, data) = write_file(&services.spool_dir, &name, 40_000, n + 7);
        services
            .store
            .insert_job(
                &mfp_kiosk::store::NewJob {
                    id,
                    user_oid: oid.clone(),
                    workflow_id: "scan-to-onedrive".into(),
                    destination: mfp_kiosk::workflow::outbox::JobDestination::OneDrive.to_json(),
                    folder: "Scans".into(),
                    file_name: format!("Queued {n}.pdf"),
                    spool_path: small.join("spool").join(&name),
                    size_bytes: data.len() as u64,
                    pages: 1,
                },
                chrono::Utc::now(),
            )
            .unwrap();
        queued.push((format!("Queued {n}.pdf"), data));
    }
    drop(services);
    let scans = sim.user_drive_dir(upn).join("Scans");
    let before = files_under(&scans);

    let script = r#"
set -u
state="$1"; small="$2"; online="$3"; bin="$4"; upn="$5"
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$small" || exit 90
cp -a "$state/." "$small/" || exit 91
kiosk() { "$bin" --demo --config "$@"; echo "rc=$?"; }
# Fill the filesystem, then leave 256 kB: less than the colour scan needs.
dd if=/dev/zero of="$small/filler" bs=64k 2>/dev/null
truncate -s -256K "$small/filler"
echo "== full"
kiosk "$online" scan --workflow colour --user "$upn" 2>&1
echo "== spool after full"
ls -A "$small/spool"
echo "== outbox"
kiosk "$online" outbox run --max-wait-secs 5
echo "== spool after outbox"
ls -A "$small/spool"
echo "== doctor"
"$bin" --config "$online" doctor 2>&1; echo "rc=$?"
echo "== again"
kiosk "$online" scan --workflow scan-to-onedrive --user "$upn"
echo "== end"
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", script, "sh"])
        .arg(dir.path().join("state"))
        .arg(&small)
        .arg(&online)
        .arg(kiosk_bin())
        .arg(upn)
        .env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{text}\n{stderr}", out.status);
    // The lines between `== name` and the next `== ` marker.
    let section = |name: &str| -> String {
        let mut lines = text.lines().skip_while(|l| *l != format!("== {name}"));
        assert!(
            lines.next().is_some(),
            "no section {name}: {text}\n{stderr}"
        );
        lines
            .take_while(|l| !l.starts_with("== "))
            .map(|l| format!("{l}\n"))
            .collect()
    };

    let full = section("full");
    assert!(full.contains("rc=1"), "{full}");
    // What the person at the panel reads: plain words, no errno (the log line keeps those).
    let said: Vec<&str> = full.lines().filter(|l| l.starts_with("Error: ")).collect();
    assert_eq!(said, [format!("Error: {STORAGE_FULL_MESSAGE}")], "{full}");

    // Only the two queued PDFs: the partial colour scan is gone.
    let spool = section("spool after full");
    let names: Vec<&str> = spool.lines().collect();
    assert_eq!(names.len(), 2, "{spool}");
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with('.') && n.ends_with(".pdf")),
        "{spool}"
    );

    let outbox = section("outbox");
    assert!(outbox.contains("rc=0"), "{outbox}\n{stderr}");
    // (The script has run to its end: the drive also holds the last section's scan.)
    for (name, data) in &queued {
        assert_eq!(&std::fs::read(scans.join(name)).unwrap(), data, "{name}");
    }
    let left = section("spool after outbox");
    assert!(left.trim().is_empty(), "{left}");

    let doctor = section("doctor");
    let storage_line = doctor
        .lines()
        .find(|l| l.contains("storage: state directory"))
        .unwrap_or_else(|| panic!("{doctor}"));
    // Under 8 MB free is a problem worth a technician's visit.
    assert!(storage_line.starts_with("[PROBLEM]"), "{storage_line}");
    assert!(storage_line.contains("free of 4.2 MB"), "{storage_line}");

    let again = section("again");
    assert!(
        again.contains(" done: ") && again.contains("rc=0"),
        "{again}\n{stderr}"
    );
    let names: Vec<String> = files_under(&scans)
        .iter()
        .filter(|p| !before.contains(p))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("Scan ")), "{names:?}");
    // Nothing of the colour scan reached the cloud.
    assert!(files_under(&sim.user_drive_dir(upn).join("Colour")).is_empty());
}
