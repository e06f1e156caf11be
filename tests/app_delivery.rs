//! Delivery with the panel's application identity against the simulated Graph, which applies
//! `Sites.Selected` (the app writes only to sites an admin granted it, elsewhere 403 with
//! Graph's own body) and `/users/{id}/drive` with `Files.ReadWrite.All`:
//! - a local user's scan lands in the granted library through an upload session, named with
//!   `{user}` and described with who scanned it; a scan to an ungranted site fails in plain
//!   words and stays on the panel;
//! - a tenant with `entra.device_code = false`: a synced user taps their directory badge, sees
//!   only app workflows and scans into their own OneDrive through the app identity;
//! - the uploader (`mfp-kiosk outbox run`, a real process) is SIGKILLed in the middle of an
//!   app upload and restarted: it resumes the same session and the file lands exactly once.
#![cfg(feature = "demo")]

mod bin_support;
mod directory_support;
mod outbox_support;

use bin_support::kiosk_bin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use directory_support::*;
use mfp_kiosk::admin::cards::Actor;
use mfp_kiosk::admin::local_users::CreateLocal;
use mfp_kiosk::app::jobs::{scan_and_deliver, Delivered};
use mfp_kiosk::app::Services;
use mfp_kiosk::config::{Config, Delivery, Destination, WorkflowConfig};
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::sim::{KillPhase, SimSite, DEMO_SHAREPOINT_HOST};
use mfp_kiosk::store::{JobState, NewJob};
use mfp_kiosk::workflow::app_delivery;
use mfp_kiosk::workflow::outbox::JobDestination;

/// Key and certificate PEM, generated once per test process (RSA generation is slow).
fn credential_pems() -> &'static (String, String) {
    static PEMS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    PEMS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (k, c) = (dir.path().join("k"), dir.path().join("c"));
        mfp_kiosk::directory::keygen::generate(&k, &c, "test", false).unwrap();
        (
            std::fs::read_to_string(k).unwrap(),
            std::fs::read_to_string(c).unwrap(),
        )
    })
}

/// The panel's app credential in its default place, its certificate registered with Entra.
fn install_credential(k: &Kiosk) {
    use std::io::Write;
    let (key, cert) = credential_pems();
    let (kp, cp) = mfp_kiosk::directory::credential::default_paths(&k.services.config);
    std::fs::create_dir_all(kp.parent().unwrap()).unwrap();
    for (path, text) in [(&kp, key), (&cp, cert)] {
        let mut f = mfp_kiosk::fsmode::create_private_file(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
    k.sim.register_app_certificate(cert).unwrap();
}

/// `users` synced users in the kiosk group, each with a directory badge.
async fn tenant_with(users: usize, configure: impl FnOnce(&mut Config)) -> Kiosk {
    let k = kiosk(
        |o| {
            let mut g = mfp_kiosk::sim::SimGroup::new(GROUP, "Kiosk users");
            for i in 1..=users {
                o.users.push(
                    mfp_kiosk::sim::SimUser::new(&upn(i), &format!("User {i}")).with_oid(&oid(i)),
                );
                g.members.push(oid(i));
                o.user_attributes
                    .push((oid(i), EXT3.into(), badge(i).1.into()));
            }
            o.groups = vec![g];
        },
        |c| {
            c.directory.enabled = true;
            c.directory.groups = vec![GROUP.into()];
            c.directory.card_attribute = Some(EXT3.into());
            c.directory.card_normalise = vec!["hex_to_dec".into(), "pad_left:10".into()];
            c.readers.normalise = vec![];
            configure(c);
        },
    )
    .await;
    install_credential(&k);
    k
}

const FINANCE: &str = "contoso.sharepoint.com:/sites/Finance";
const HR: &str = "contoso.sharepoint.com:/sites/HR";

fn workflow(id: &str, destination: Destination, site: Option<&str>) -> WorkflowConfig {
    let mut w = Config::demo_default().workflows[0].clone();
    w.id = id.into();
    w.label = id.into();
    w.destination = destination;
    w.site = site.map(str::to_string);
    w.library = site.map(|_| "Documents".to_string());
    w.folder = "Scans".into();
    w.file_name = "{user} {seq}.pdf".into();
    w.delivery = Delivery::App;
    w.allowed_roles = Vec::new();
    w
}

/// Services over the fixture's state directory with a one-sheet simulated scanner.
fn scanning(k: &Kiosk) -> Arc<Services> {
    let factory: mfp_kiosk::app::services::ScannerFactory =
        Box::new(|| Box::new(mfp_kiosk::scan::simulated::SimulatedScanner::new(1)));
    Arc::new(Services::new(k.services.config.clone(), factory).unwrap())
}

async fn scan(s: &Arc<Services>, k: &Kiosk, oid: &str, wf: &str) -> (uuid::Uuid, Delivered) {
    scan_and_deliver(
        s,
        &k.sessions,
        oid,
        wf,
        mfp_kiosk::app::scan_sheet::JobPlan::default(),
        Arc::new(AtomicBool::new(false)),
        &|_| {},
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_user_scans_to_the_granted_site_and_an_ungranted_one_is_refused_in_words() {
    let k = kiosk(
        |_| {},
        |c| {
            c.workflows = vec![
                workflow("visitors", Destination::Sharepoint, Some(FINANCE)),
                workflow("hr", Destination::Sharepoint, Some(HR)),
            ];
        },
    )
    .await;
    install_credential(&k);
    k.sim
        .add_site(SimSite::new(DEMO_SHAREPOINT_HOST, "/sites/HR", "Documents"));
    k.sim.set_app_permissions(&["Sites.Selected"]);
    assert!(k
        .sim
        .grant_app_site(DEMO_SHAREPOINT_HOST, "/sites/Finance", "write"));
    let s = scanning(&k);
    let ann = s
        .local_users()
        .create(
            &Actor::Cli,
            &CreateLocal {
                display_name: "Ann Visitor".into(),
                email: Some("ann@example.com".into()),
                ..Default::default()
            },
        )
        .unwrap();

    let sessions_before = k.sim.stats().upload_sessions;
    let (_, delivered) = scan(&s, &k, &ann.oid, "visitors").await;
    let Delivered::Sent { file_name, .. } = delivered else {
        panic!("{delivered:?}");
    };
    assert!(file_name.starts_with("Ann Visitor"), "{file_name}");
    assert_eq!(k.sim.stats().upload_sessions, sessions_before + 1);
    let landed = k
        .sim
        .site_drive_dir("/sites/Finance", "Documents")
        .join("Scans")
        .join(&file_name);
    assert!(landed.is_file(), "{}", landed.display());
    assert_eq!(
        k.sim.item_description(&landed).as_deref(),
        Some(
            app_delivery::describe("Ann Visitor", "ann@example.com", &s.config.device.name)
                .as_str()
        )
    );

    // The HR site was never granted: Graph says 403, the panel says what is missing.
    let (job_id, delivered) = scan(&s, &k, &ann.oid, "hr").await;
    match delivered {
        Delivered::Failed { reason } => assert!(reason.contains("not yet allowed"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let job = s.store.job(job_id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    let error = job.last_error.unwrap_or_default();
    assert!(
        error.contains(HR) && error.contains("Sites.Selected"),
        "{error}"
    );
    assert!(job.spool_path.is_file(), "the scan stays on the panel");
    assert!(!k.sim.site_drive_dir("/sites/HR", "Documents").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_device_code_a_synced_user_scans_to_their_own_onedrive_as_the_app() {
    let k = tenant_with(3, |c| {
        c.entra.device_code = false;
        let mut own = workflow("own-onedrive", Destination::Onedrive, None);
        own.file_name = "Scan {seq}.pdf".into();
        let mut delegated = workflow("delegated", Destination::Onedrive, None);
        delegated.delivery = Delivery::User;
        c.workflows = vec![delegated, own];
    })
    .await;
    k.sim.set_app_permissions(&[
        "User.Read.All",
        "GroupMember.Read.All",
        "Files.ReadWrite.All",
    ]);
    assert!(!k.services.kiosk_settings().microsoft_enabled);
    run(&k, &directory(&k)).await.unwrap();

    let (number, _) = badge(2);
    let user = match tap(&k, &number).await {
        Event::AuthSucceeded { user, .. } => user,
        other => panic!("{other:?}"),
    };
    assert_eq!(user.oid, oid(2));
    let offered: Vec<_> = user.workflows.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(
        offered,
        ["own-onedrive"],
        "no delegated token: app workflows only"
    );

    let s = scanning(&k);
    let (_, delivered) = scan(&s, &k, &user.oid, "own-onedrive").await;
    let Delivered::Sent { file_name, .. } = delivered else {
        panic!("{delivered:?}");
    };
    let landed = k.sim.user_drive_dir(&upn(2)).join("Scans").join(&file_name);
    assert!(landed.is_file(), "{}", landed.display());
    assert!(k
        .sim
        .item_description(&landed)
        .is_some_and(|d| d.contains(&upn(2))));
    assert!(
        !k.sim.user_drive_dir(&upn(1)).exists(),
        "only the scanning person's OneDrive"
    );
}

/// The panel's config as TOML for the binary: same state directory, sim endpoints.
fn write_config(k: &Kiosk) -> std::path::PathBuf {
    let c = &k.services.config;
    let path = k.dir.path().join("kiosk.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nname = \"test\"\nstate_dir = \"{}\"\n\n[entra]\nauthority_host = \"{}\"\n\
             tenant = \"{}\"\nclient_id = \"{}\"\nallowed_tenants = [\"{}\"]\n\n[graph]\n\
             endpoint = \"{}\"\n\n[[workflows]]\nid = \"visitors\"\nlabel = \"Visitors\"\n\
             destination = \"sharepoint\"\nsite = \"{FINANCE}\"\nlibrary = \"Documents\"\n\
             delivery = \"app\"\n",
            k.state_dir().display(),
            c.entra.authority_host,
            c.entra.tenant,
            c.entra.client_id,
            c.entra.tenant,
            c.graph.endpoint,
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_upload_killed_mid_body_resumes_and_lands_exactly_once() {
    let k = kiosk(|_| {}, |_| {}).await;
    install_credential(&k);
    k.sim.set_app_permissions(&["Sites.Selected"]);
    k.sim
        .grant_app_site(DEMO_SHAREPOINT_HOST, "/sites/Finance", "write");
    let ann = k
        .services
        .local_users()
        .create(
            &Actor::Cli,
            &CreateLocal {
                display_name: "Ann Visitor".into(),
                ..Default::default()
            },
        )
        .unwrap();
    // Three fragments of 320 KiB (the binary's --fragment-units 1).
    let size = 3 * mfp_kiosk::graph::FragmentSize::UNIT as usize - 5;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let id = uuid::Uuid::new_v4();
    let spool = k.services.spool_path(&id.to_string());
    std::fs::write(&spool, &data).unwrap();
    let destination = JobDestination::SharePoint {
        site: FINANCE.into(),
        library: "Documents".into(),
    };
    k.services
        .store
        .insert_job(
            &NewJob {
                id,
                user_oid: ann.oid.clone(),
                workflow_id: "visitors".into(),
                destination: app_delivery::mark_app(destination.to_json(), "Scanned by Ann"),
                folder: "Scans".into(),
                file_name: "Ann.pdf".into(),
                spool_path: spool.clone(),
                size_bytes: size as u64,
                pages: 1,
            },
            chrono::Utc::now(),
        )
        .unwrap();
    let cfg = write_config(&k);
    let spawn = || {
        Command::new(kiosk_bin())
            .arg("--config")
            .arg(&cfg)
            .args([
                "outbox",
                "run",
                "--max-wait-secs",
                "0",
                "--fragment-units",
                "1",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // Graph requests of the run: site, drives, createUploadSession, fragment 1, fragment 2:
    // the kill comes while the second fragment's body is arriving.
    let child = Arc::new(Mutex::new(spawn()));
    let killed = Arc::new(AtomicBool::new(false));
    outbox_support::kill_at_request(&k.sim, 5, KillPhase::MidBody, &child, &killed);
    let child_done = child.clone();
    tokio::task::spawn_blocking(move || loop {
        if child_done.lock().unwrap().try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    })
    .await
    .unwrap();
    k.sim.disarm_kill();
    assert!(
        killed.load(Ordering::SeqCst),
        "the uploader was killed mid-upload; job: {:?}",
        k.services
            .store
            .job(id)
            .unwrap()
            .map(|j| (j.state, j.last_error))
    );
    let job = k.services.store.job(id).unwrap().unwrap();
    assert_ne!(job.state, JobState::Done);
    assert!(
        job.upload_url.is_some(),
        "the session survived in the row (sealed)"
    );
    let sessions = k.sim.stats().upload_sessions;

    let out = spawn().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = k.services.store.job(id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(
        k.sim.stats().upload_sessions,
        sessions,
        "the restart resumed the saved session"
    );
    let dir = k
        .sim
        .site_drive_dir("/sites/Finance", "Documents")
        .join("Scans");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "exactly once");
    assert_eq!(std::fs::read(files[0].path()).unwrap(), data);
    assert_eq!(
        k.sim.item_description(&files[0].path()).as_deref(),
        Some("Scanned by Ann")
    );
}
