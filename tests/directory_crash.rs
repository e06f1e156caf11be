//! kill -9 of `mfp-kiosk directory sync` mid-sync, at several Graph requests (during the groups
//! delta, during the users delta, after the last users page was served but before its answer
//! arrived): the next run ends consistent. Every user exactly once, every badge bound, the
//! killed run recorded as interrupted, and no delta link stored ahead of the data it covers.
#![cfg(feature = "demo")]

mod bin_support;
mod directory_support;

use bin_support::kiosk_bin;
use std::path::PathBuf;
use std::sync::Arc;

use directory_support::*;
use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::sim::KillPhase;

const USERS: usize = 300;
const PAGE: usize = 20;

/// A config file for the child process: the same tenant, state directory and `[directory]`.
fn write_config(k: &Kiosk) -> PathBuf {
    let c = &k.services.config;
    let text = format!(
        r#"
[device]
state_dir = "{state}"
[entra]
authority_host = "{authority}"
tenant = "{tenant}"
client_id = "{client}"
[graph]
endpoint = "{graph}"
[readers.pcsc]
enabled = false
[[workflows]]
id = "scan"
label = "Scan"
destination = "onedrive"
folder = "Scans"
file_name = "scan.pdf"
[directory]
enabled = true
groups = ["{GROUP}"]
card_attribute = "{EXT3}"
card_normalise = ["hex_to_dec", "pad_left:10"]
"#,
        state = c.device.state_dir.display(),
        authority = c.entra.authority_host,
        tenant = c.entra.tenant,
        client = c.entra.client_id,
        graph = c.graph.endpoint,
    );
    let path = k.dir.path().join("child.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_anywhere_is_completed_by_the_next_run() {
    // Graph requests of a first sync: groups delta over the root group (13 pages: 250 users
    // and the nested group, 20 a page), again over both groups once the nesting is known (16),
    // then the users delta (16: 300 users and the tenant's 4 others): 45 in all.
    for (nth, phase) in [
        (4, KillPhase::BeforeHandling),
        (22, KillPhase::MidBody),
        (36, KillPhase::AfterHandling),
        (45, KillPhase::AfterHandling),
    ] {
        let k = tenant(USERS, USERS - 49, PAGE).await;
        let config = write_config(&k);
        let child = std::process::Command::new(kiosk_bin())
            .args(["--config"])
            .arg(&config)
            .args(["directory", "sync"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        k.sim.arm_kill(
            nth,
            phase,
            Arc::new(move || {
                // SAFETY: signals a child of this test by pid; it is reaped by `wait` below,
                // after which `kill(pid, 0)` fails and this returns.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while unsafe { libc::kill(pid, 0) } == 0 && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }),
        );
        let mut child = child;
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert!(!status.success(), "killed at request {nth}");
        assert!(!k.sim.disarm_kill(), "the kill fired at request {nth}");
        let store = &k.services.store;
        assert!(
            store.dir_link("users").unwrap().is_none(),
            "no users link before its last page is staged (kill at {nth})"
        );

        let r = run(&k, &directory(&k)).await.unwrap();
        let users = store.list_users().unwrap();
        assert_eq!(users.len(), USERS, "kill at {nth}");
        assert!(users.iter().all(|u| u.status == UserStatus::Active));
        let badges = (1..=USERS).filter(|i| i % 7 != 0).count();
        assert_eq!(store.all_cards().unwrap().len(), badges, "kill at {nth}");
        assert!(store.dir_link("users").unwrap().is_some());
        assert!(store.dir_link("groups").unwrap().is_some());
        let runs = store
            .provisioning_report(&mfp_kiosk::store::ProvisioningQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(runs[0].0.id, r.run_id);
        assert_eq!(runs[1].0.outcome, "interrupted", "kill at {nth}");
        // And a badge works at once.
        assert!(matches!(
            tap(&k, &badge(1).0).await,
            mfp_kiosk::kiosk::Event::AuthSucceeded { .. }
        ));
    }
}
