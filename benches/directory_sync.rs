//! Benchmark: the initial directory sync of 100,000 users in one group, nine in ten with a badge
//! (hex in extensionAttribute3, through the directory pipeline and the device key), from the
//! simulated Graph over loopback HTTP into a fresh SQLite store: wall time and peak RSS growth
//! (targets on the reference machine: < 30 s, < 64 MiB). Printed beside a reference measured in
//! the same run: `Store::import_directory` of the same users and cards in one transaction (no
//! HTTP, no JSON, no per-user decisions), the floor for writing this much.
//!
//! `cargo bench --bench directory_sync` runs the full size; without `--bench` (as `cargo test
//! --all-targets` runs it) it does a small smoke run that checks the result.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use mfp_kiosk::config::Config;
use mfp_kiosk::directory::sync::{self, Directory};
use mfp_kiosk::identity::{UserRecord, UserStatus};
use mfp_kiosk::secrets::DeviceKey;
use mfp_kiosk::sim::{SimCloud, SimGroup, SimOptions, SimUser};
use mfp_kiosk::store::{ImportCard, Store};

const GROUP: &str = "11111111-2222-4333-8444-555555555555";
const EXT3: &str = "onPremisesExtensionAttributes.extensionAttribute3";

/// (current RSS, peak RSS) in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn reset_peak() {
    // "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn oid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 100_000 } else { 2_000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = SimOptions::demo(dir.path().join("drive"));
    let mut group = SimGroup::new(GROUP, "Kiosk users");
    for i in 1..=n {
        opts.users.push(
            SimUser::new(
                &format!("user{i:06}@contoso.example"),
                &format!("User {i:06}"),
            )
            .with_oid(&oid(i)),
        );
        group.members.push(oid(i));
        if i % 10 != 0 {
            opts.user_attributes
                .push((oid(i), EXT3.into(), format!("{:x}", 4_410_000 + i).into()));
        }
        opts.user_attributes
            .push((oid(i), "department".into(), "Finance".into()));
    }
    opts.groups = vec![group];
    let sim = rt.block_on(SimCloud::start(opts)).expect("sim");

    let mut config = Config::demo_default();
    config.device.state_dir = dir.path().join("state");
    config.entra.authority_host = sim.authority_host().to_string();
    config.entra.tenant = sim.tenant_id().to_string();
    config.entra.client_id = sim.client_id().to_string();
    config.graph.endpoint = sim.graph_endpoint().to_string();
    config.directory.groups = vec![GROUP.into()];
    config.directory.card_attribute = Some(EXT3.into());
    config.directory.card_normalise = vec!["hex_to_dec".into(), "pad_left:10".into()];
    let (key_path, cert_path) = mfp_kiosk::directory::credential::default_paths(&config);
    mfp_kiosk::directory::keygen::generate(&key_path, &cert_path, "bench", false).expect("keygen");
    sim.register_app_certificate(&std::fs::read_to_string(&cert_path).expect("cert"))
        .expect("register");
    std::fs::create_dir_all(&config.device.state_dir).expect("state dir");
    let key = Arc::new(
        DeviceKey::load_or_create(&config.device.state_dir.join("device.key")).expect("key"),
    );
    let store = Store::open(&config.device.state_dir.join("kiosk.sqlite3")).expect("store");
    let directory = Directory::from_config(&config).expect("directory");

    // The sync.
    reset_peak();
    let (before, _) = rss_kib();
    let started = Instant::now();
    let report = rt
        .block_on(sync::run(&store, &key, &directory, "bench"))
        .expect("sync");
    let sync_time = started.elapsed();
    let (_, peak) = rss_kib();
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    let badges = (1..=n).filter(|i| i % 10 != 0).count() as u64;
    assert_eq!(report.counts.created, n as u64, "{:?}", report.counts);
    assert_eq!(report.counts.cards_added, badges);

    // The reference: the same users and cards through the bulk import, in a fresh store.
    let ref_store = Store::open(&dir.path().join("reference.sqlite3")).expect("reference store");
    let now = Utc::now();
    let pipeline = config.directory.card_pipeline().expect("pipeline");
    let users: Vec<UserRecord> = (1..=n)
        .map(|i| UserRecord {
            oid: oid(i),
            tenant_id: sim.tenant_id().into(),
            upn: format!("user{i:06}@contoso.example"),
            display_name: format!("User {i:06}"),
            mail: Some(format!("user{i:06}@contoso.example")),
            username: format!("msp-user{i:06}"),
            roles: vec![],
            groups: vec![],
            is_technician: false,
            status: UserStatus::Active,
            created_at: now,
            updated_at: now,
            last_online_at: now,
        })
        .collect();
    let ref_started = Instant::now();
    let cards: Vec<ImportCard> = (1..=n)
        .filter(|i| i % 10 != 0)
        .map(|i| {
            let normalised = pipeline
                .apply(&format!("{:x}", 4_410_000 + i))
                .expect("badge");
            ImportCard {
                user_oid: oid(i),
                hash: key.card_hash(&normalised),
                masked: mfp_kiosk::secrets::mask_card(&normalised),
            }
        })
        .collect();
    ref_store
        .import_directory(&users, &cards, now)
        .expect("import");
    let ref_time = ref_started.elapsed();

    let ratio = sync_time.as_secs_f64() / ref_time.as_secs_f64().max(1e-9);
    println!(
        "directory sync of {n} users ({badges} badges), {} pages",
        report.counts.pages
    );
    println!(
        "  sync:      {:>8.2} s   peak RSS growth {:>6.1} MiB   (targets < 30 s, < 64 MiB{})",
        sync_time.as_secs_f64(),
        growth_mib,
        if full { "" } else { "; smoke size" }
    );
    println!(
        "  reference: {:>8.2} s   (bulk import of the same users and cards, same run)",
        ref_time.as_secs_f64()
    );
    println!("  ratio sync / reference: {ratio:.1}x");
    println!(
        "SUMMARY\tinitial directory sync, {n} users (RSS growth {growth_mib:.1} MiB)\t{:.1} s\tbulk import {:.1} s\t{ratio:.1}x\t< 30 s, < 64 MiB",
        sync_time.as_secs_f64(),
        ref_time.as_secs_f64()
    );
    if full {
        let ok = sync_time.as_secs() < 30 && growth_mib < 64.0;
        println!("  {}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            std::process::exit(1);
        }
    }
}
