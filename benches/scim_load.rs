//! Benchmark: Entra-sized SCIM load while the panel keeps signing people in. 10,000 users
//! POSTed by 8 concurrent clients, then 10,000 PATCHes (path-less replace, as
//! `aadOptscim062020` sends them), over real HTTP into the panel's real SQLite store; prints
//! requests/s and p50/p99 latency of each phase. Meanwhile offline badge sign-ins run through
//! the real sign-in path against the same store: their p99 during the load is printed beside
//! the idle p99 measured in the same run, as a ratio (target within 2x).
//!
//! `cargo bench --bench scim_load` runs the full size; without `--bench` (as `cargo test
//! --all-targets` runs it) a small smoke run keeps the path exercised.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfp_kiosk::app::signin::{self, SessionTokens};
use mfp_kiosk::app::Services;
use mfp_kiosk::config::Config;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::scan::simulated::SimulatedScanner;
use mfp_kiosk::scim::{self, auth, Options};
use secrecy::SecretString;
use serde_json::{json, Value};

const CLIENTS: usize = 8;
const KIOSK: &str = "urn:ietf:params:scim:schemas:extension:mfpkiosk:2.0:User";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", KIOSK],
        "externalId": format!("c0000000-0000-4000-8000-{i:012}"),
        "userName": format!("user{i}"),
        "active": true,
        "displayName": format!("User {i}"),
        "emails": [{"type": "work", "primary": true, "value": format!("user{i}@contoso.example")}],
        KIOSK: {"cardNumbers": [badge(i)]},
    })
}

fn badge(i: usize) -> String {
    format!("{:010}", 3_000_000_000u64 + i as u64 * 7919)
}

/// Runs `bodies` (method, path, body) over `CLIENTS` concurrent clients; the latencies and
/// the wall time.
async fn load(
    base: &str,
    token: &str,
    bodies: Vec<(reqwest::Method, String, Value)>,
) -> (Vec<Duration>, Duration) {
    let per = bodies.len().div_ceil(CLIENTS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut it = bodies.into_iter();
    for _ in 0..CLIENTS {
        let chunk: Vec<_> = it.by_ref().take(per).collect();
        let base = base.to_string();
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut times = Vec::with_capacity(chunk.len());
            let mut ids = Vec::new();
            for (method, path, body) in chunk {
                let t = Instant::now();
                let resp = http
                    .request(method, format!("{base}{path}"))
                    .bearer_auth(&token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("request");
                let status = resp.status().as_u16();
                let v: Value = resp.json().await.expect("body");
                times.push(t.elapsed());
                assert!(status == 200 || status == 201, "{status}: {v}");
                ids.push(v["id"].as_str().unwrap_or_default().to_string());
            }
            (times, ids)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client").0);
    }
    (all, started.elapsed())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 10_000 } else { 200 };
    let tappers = 50.min(n);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::demo_default();
    config.device.state_dir = dir.path().to_path_buf();
    config.directory.enabled = false;
    // Offline: the discard port refuses at once.
    config.entra.authority_host = "http://127.0.0.1:9".into();
    config.graph.endpoint = "http://127.0.0.1:9/v1.0".into();
    config.readers.normalise = vec![];
    config.directory.card_normalise = vec![];
    let scanner: mfp_kiosk::app::services::ScannerFactory =
        Box::new(|| Box::new(SimulatedScanner::new(1)));
    let services = Arc::new(Services::new(config.clone(), scanner).expect("services"));
    let key = Arc::new(
        mfp_kiosk::secrets::DeviceKey::load_or_create(&dir.path().join("device.key")).expect("key"),
    );
    // The panel's runtime, where the sign-ins run; the endpoint brings its own (background
    // priority, as in the panel).
    let panel_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (token, hash) = auth::generate();
    let running = scim::start(
        &config,
        Options {
            listen: ([127, 0, 0, 1], 0).into(),
            tls: None,
            token: hash,
            max_body: 64 * 1024,
            rate_per_minute: 1_000_000,
        },
        services.store.clone(),
        key,
        |_| {},
    )
    .expect("scim");
    let base = running.base_url.clone();
    // The 8 clients stand in for Entra's provisioning agent, which runs on another machine: as
    // background work here (the class of the panel's own SCIM threads), so what the sign-in
    // competes with is the panel's own work (HTTP, JSON, SQLite), not the load generator.
    // SCIM_LOAD_CLIENTS=panel runs them at the panel's priority, for comparison.
    let clients_as_panel = std::env::var("SCIM_LOAD_CLIENTS").is_ok_and(|v| v == "panel");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            if !clients_as_panel {
                mfp_kiosk::priority::lower_this_thread()
            }
        })
        .enable_all()
        .build()
        .expect("runtime");

    // The first users are the ones who tap; they exist before the idle measurement.
    let posts: Vec<_> = (0..n)
        .map(|i| (reqwest::Method::POST, "/Users".to_string(), user(i)))
        .collect();
    let (head, tail): (Vec<_>, Vec<_>) = posts
        .into_iter()
        .enumerate()
        .partition(|(i, _)| *i < tappers);
    client_rt.block_on(load(
        &base,
        &token,
        head.into_iter().map(|(_, b)| b).collect(),
    ));

    let sessions = SessionTokens::default();
    let tap = |s: usize| -> Duration {
        let card = SecretString::from(badge(s % tappers));
        let t = Instant::now();
        let e = panel_rt.block_on(signin::lookup_card(
            &services, &sessions, s as u64, card, false,
        ));
        let took = t.elapsed();
        assert!(matches!(e, Event::AuthSucceeded { .. }), "tap {s}: {e:?}");
        took
    };
    // The reference is taken at the same cadence as the figure (a tap, then 5 ms): back to
    // back, the idle taps would run on warmer caches than the loaded ones ever do.
    let paced_tap = |s: usize| -> Duration {
        let took = tap(s);
        std::thread::sleep(Duration::from_millis(5));
        took
    };
    let mut idle: Vec<Duration> = (0..300).map(&paced_tap).collect();
    idle.sort();

    let done = Arc::new(AtomicBool::new(false));
    let busy = {
        let done = done.clone();
        let base = base.clone();
        let token = token.clone();
        std::thread::spawn(move || {
            let tail: Vec<_> = tail.into_iter().map(|(_, b)| b).collect();
            let posted = tail.len();
            let (post_t, post_wall) = client_rt.block_on(load(&base, &token, tail));
            // Every user once: a path-less replace of names and mail.
            let http_ids = client_rt.block_on(async {
                let http = reqwest::Client::new();
                let mut ids = Vec::with_capacity(n);
                let mut start = 1;
                loop {
                    let v: Value = http
                        .get(format!(
                            "{base}/Users?startIndex={start}&count=200&attributes=id"
                        ))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("list")
                        .json()
                        .await
                        .expect("list body");
                    let page = v["Resources"].as_array().cloned().unwrap_or_default();
                    if page.is_empty() {
                        break;
                    }
                    start += page.len();
                    ids.extend(
                        page.into_iter()
                            .filter_map(|r| r["id"].as_str().map(str::to_string)),
                    );
                }
                ids
            });
            let patches: Vec<_> = http_ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    (
                        reqwest::Method::PATCH,
                        format!("/Users/{id}"),
                        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "value": {
                            "displayName": format!("User {i} (moved)"),
                            "name.givenName": format!("U{i}"),
                            "emails[type eq \"work\"].value": format!("u{i}@contoso.example"),
                        }}]}),
                    )
                })
                .collect();
            let (patch_t, patch_wall) = client_rt.block_on(load(&base, &token, patches));
            done.store(true, Ordering::SeqCst);
            (posted, post_t, post_wall, patch_t, patch_wall)
        })
    };
    let mut loaded = Vec::new();
    let mut s = 0;
    while !done.load(Ordering::SeqCst) {
        loaded.push(paced_tap(s));
        s += 1;
    }
    let (posted, mut post_t, post_wall, mut patch_t, patch_wall) = busy.join().expect("load");
    loaded.sort();
    post_t.sort();
    patch_t.sort();
    let report = |what: &str, t: &[Duration], wall: Duration| {
        println!(
            "{what}: {} requests by {CLIENTS} clients in {:.2} s: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
            t.len(),
            wall.as_secs_f64(),
            t.len() as f64 / wall.as_secs_f64(),
            ms(percentile(t, 0.50)),
            ms(percentile(t, 0.99)),
        )
    };
    report(
        &format!("POST /Users ({posted} after {tappers} seeded)"),
        &post_t,
        post_wall,
    );
    report("PATCH /Users/{id}", &patch_t, patch_wall);
    let (idle99, load99) = (percentile(&idle, 0.99), percentile(&loaded, 0.99));
    let ratio = load99.as_secs_f64() / idle99.as_secs_f64().max(1e-9);
    println!(
        "load clients as {} (SCIM_LOAD_CLIENTS=panel|background)",
        if clients_as_panel {
            "panel priority"
        } else {
            "background work"
        }
    );
    println!(
        "offline badge sign-in: idle p50 {:.2} ms p99 {:.2} ms ({} taps); during the load p50 {:.2} ms p99 {:.2} ms ({} taps); p99 ratio {ratio:.2}x (target <= 2x)",
        ms(percentile(&idle, 0.50)),
        ms(idle99),
        idle.len(),
        ms(percentile(&loaded, 0.50)),
        ms(load99),
        loaded.len(),
    );
    // One tab-separated row for device/bench.sh: figure, measured, reference, ratio, target.
    println!(
        "SUMMARY\tbadge sign-in p99 during SCIM load ({posted} POST {:.0}/s p99 {:.1} ms, {n} PATCH {:.0}/s p99 {:.1} ms, {CLIENTS} clients)\t{:.2} ms\tidle {:.2} ms\t{ratio:.2}x\t<= 2x",
        post_t.len() as f64 / post_wall.as_secs_f64(),
        ms(percentile(&post_t, 0.99)),
        patch_t.len() as f64 / patch_wall.as_secs_f64(),
        ms(percentile(&patch_t, 0.99)),
        ms(load99),
        ms(idle99),
    );
    let activity = services
        .store
        .scim_activity(chrono::Utc::now() - chrono::Duration::hours(1))
        .expect("activity");
    assert_eq!(activity.users, n);
    assert_eq!(activity.refused_24h, 0);
    running.task.abort();
}
