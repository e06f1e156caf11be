//! The administrator tools against the simulated tenant: `doctor` (in-process and as the real
//! `mfp-kiosk` binary, with its exit code), `signin` (in-process and as the binary), and the
//! cloud/transport rules they rely on (national clouds, HTTPS except loopback).
#![cfg(feature = "demo")]

mod bin_support;
mod entra_support;

use bin_support::kiosk_bin;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_support::{kiosk, Kiosk};
use mfp_kiosk::admin::doctor::{self, Check, DoctorOptions, Status};
use mfp_kiosk::admin::signin::{self, SignInError};
use mfp_kiosk::auth::discovery::DiscoveryError;
use mfp_kiosk::auth::entra::{EntraClient, EntraError, EntraSettings};
use mfp_kiosk::config::Config;
use mfp_kiosk::graph::GraphClient;
use mfp_kiosk::sim::{SignInPolicy, SimCloud};
use secrecy::ExposeSecret;

/// A `Write` shared between the task that writes and the test that reads.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The user code on the screen, once it is printed (the code line is indented by four).
fn code_on(screen: &str) -> Option<String> {
    screen
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .find(|c| c.len() == 9 && c.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string)
}

/// Approves, as `oid` on the "phone", the code the screen shows (bounded wait). The code is
/// taken from the screen: other codes may be pending (the doctor's unattended probe).
async fn approve_code_shown(screen: &Screen, sim: &SimCloud, oid: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = code_on(&screen.text()) {
            assert!(
                sim.approve_user_code(&code, Some(oid)),
                "code {code} not pending"
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no code on the screen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn statuses(report: &doctor::Report, check: Check) -> Vec<Status> {
    report.about(check).iter().map(|f| f.status).collect()
}

fn message(report: &doctor::Report, check: Check) -> String {
    report
        .about(check)
        .iter()
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn diagnose(config: &Config) -> doctor::Report {
    doctor::diagnose(config, DoctorOptions::default(), &mut std::io::sink()).await
}

#[tokio::test]
async fn doctor_finds_nothing_wrong_with_a_good_setup() {
    let k = kiosk(|_| {}, |_| {}).await;
    let report = diagnose(&k.services.config).await;
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.exit_code(), 0);
    for check in [
        Check::Config,
        Check::Discovery,
        Check::SigningKeys,
        Check::AppRegistration,
        Check::Graph,
    ] {
        assert_eq!(statuses(&report, check), vec![Status::Ok], "{report}");
    }
    assert!(message(&report, Check::SigningKeys).starts_with("1 signing key(s)"));
    let stats = k.sim.stats();
    assert_eq!(stats.jwks_requests, 1);
    assert_eq!(stats.device_code_requests, 1);
    assert_eq!(stats.device_code_polls, 1, "one probe poll");
    assert_eq!(stats.device_code_grants, 0, "nothing signed in");
}

#[tokio::test]
async fn doctor_explains_disabled_public_client_flows() {
    let k = kiosk(|_| {}, |_| {}).await;
    k.sim.set_public_client_flows(false);
    let report = diagnose(&k.services.config).await;
    assert_eq!(report.exit_code(), 1);
    assert_eq!(
        statuses(&report, Check::AppRegistration),
        vec![Status::Problem]
    );
    let text = message(&report, Check::AppRegistration);
    assert!(
        text.starts_with("public client flows are disabled for this app registration"),
        "{text}"
    );
    assert!(text.contains("Allow public client flows"), "{text}");
    assert!(text.contains("AADSTS7000218"), "{text}");
    // The rest of the chain is fine and says so.
    assert_eq!(statuses(&report, Check::Discovery), vec![Status::Ok]);
    assert_eq!(statuses(&report, Check::Graph), vec![Status::Ok]);
}

#[tokio::test]
async fn doctor_explains_an_unknown_client_and_an_unknown_tenant() {
    let k = kiosk(|_| {}, |_| {}).await;
    let mut config = k.services.config.clone();
    config.entra.client_id = "00000000-1111-4222-8333-444444444444".into();
    let report = diagnose(&config).await;
    let text = message(&report, Check::AppRegistration);
    assert!(
        text.contains("application (client) id 00000000-1111-4222-8333-444444444444 is not registered in tenant"),
        "{text}"
    );
    assert!(text.contains("AADSTS700016"), "{text}");
    assert_eq!(report.exit_code(), 1);

    let mut config = k.services.config.clone();
    config.entra.tenant = "fabrikam.example".into();
    config.entra.allowed_tenants.clear();
    let report = diagnose(&config).await;
    let text = message(&report, Check::Discovery);
    assert!(
        text.contains("tenant `fabrikam.example` does not exist in the cloud at 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("AADSTS90002"), "{text}");
    assert_eq!(statuses(&report, Check::SigningKeys), vec![Status::Skipped]);
    assert_eq!(
        statuses(&report, Check::AppRegistration),
        vec![Status::Skipped]
    );
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn doctor_reports_an_unreachable_graph() {
    let k = kiosk(|_| {}, |_| {}).await;
    // A loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = k.services.config.clone();
    config.graph.endpoint = format!("http://127.0.0.1:{port}/v1.0");
    let report = diagnose(&config).await;
    assert_eq!(statuses(&report, Check::Graph), vec![Status::Problem]);
    assert!(message(&report, Check::Graph).starts_with("cannot reach Microsoft Graph at"));
    assert_eq!(report.exit_code(), 1);
}

/// `doctor --sign-in` in-process: prompt on the screen, approval on the "phone".
async fn doctor_with_sign_in(k: &Kiosk, oid: &str) -> (doctor::Report, String) {
    let screen = Screen::default();
    let config = k.services.config.clone();
    let run = tokio::spawn({
        let mut screen = screen.clone();
        async move { doctor::diagnose(&config, DoctorOptions { sign_in: true }, &mut screen).await }
    });
    approve_code_shown(&screen, &k.sim, oid).await;
    (run.await.unwrap(), screen.text())
}

#[tokio::test]
async fn doctor_sign_in_names_the_missing_consent() {
    let k = kiosk(|o| o.device_code_interval_secs = 1, |_| {}).await;
    let tom = k.user("tom.tech@contoso.example");
    k.sim.withhold_consent("Files.ReadWrite");
    // The unattended checks cannot see consent; only a sign-in does.
    let (report, screen) = doctor_with_sign_in(&k, &tom.oid).await;
    assert_eq!(statuses(&report, Check::AppRegistration), vec![Status::Ok]);
    assert_eq!(statuses(&report, Check::SignIn), vec![Status::Problem]);
    let text = message(&report, Check::SignIn);
    assert!(
        text.starts_with("consent missing for User.Read, Files.ReadWrite, Sites.ReadWrite.All"),
        "{text}"
    );
    assert!(text.contains("Grant admin consent"), "{text}");
    assert!(text.contains("AADSTS65001"), "{text}");
    assert!(screen.contains("enter the code"), "{screen}");
    assert_eq!(report.exit_code(), 1);

    // Consent granted: the same check passes, reports the roles and uses Graph with the token.
    k.sim.grant_consent("Files.ReadWrite");
    let (report, _) = doctor_with_sign_in(&k, &tom.oid).await;
    assert!(report.is_healthy(), "{report}");
    let text = message(&report, Check::SignIn);
    assert!(
        text.contains("tom.tech@contoso.example")
            && text.contains("technician (Kiosk.Technician): yes"),
        "{text}"
    );
    assert!(message(&report, Check::Graph).contains("/me works with the user's delegated token"));
    assert!(
        k.services.store.list_users().unwrap().is_empty(),
        "doctor stores nothing"
    );
}

#[tokio::test]
async fn doctor_sign_in_explains_conditional_access_and_assignment() {
    let k = kiosk(|_| {}, |_| {}).await;
    let adele = k.user("adele@contoso.example");
    k.sim
        .set_sign_in_policy(&adele.oid, Some(SignInPolicy::ConditionalAccessBlock));
    let (report, _) = doctor_with_sign_in(&k, &adele.oid).await;
    let text = message(&report, Check::SignIn);
    assert!(
        text.starts_with("a Conditional Access policy blocked this sign-in"),
        "{text}"
    );
    assert!(text.contains("correlation id"), "{text}");

    let alex = k.user("alex@contoso.example");
    k.sim.set_assignment_required(true);
    let (report, _) = doctor_with_sign_in(&k, &alex.oid).await;
    let text = message(&report, Check::SignIn);
    assert!(
        text.starts_with("the user is not assigned to the app"),
        "{text}"
    );
}

#[tokio::test]
async fn signin_provisions_like_the_panel_and_prints_the_identity_never_a_token() {
    let k = kiosk(|_| {}, |_| {}).await;
    let tom = k.user("tom.tech@contoso.example");
    let run = |screen: Screen| {
        let services = k.services.clone();
        tokio::spawn(async move {
            let mut screen = screen;
            signin::run(&services, &mut screen).await
        })
    };

    let screen = Screen::default();
    let task = run(screen.clone());
    approve_code_shown(&screen, &k.sim, &tom.oid).await;
    let first = task.await.unwrap().unwrap();
    assert!(first.created);
    let out = screen.text();
    let uri = format!("{}devicelogin", k.sim.authority_host());
    assert!(out.contains(&format!("open {uri} on a phone")), "{out}");
    assert!(out.contains('█'), "a QR code is drawn: {out}");
    assert!(out.contains("The panel created this user"), "{out}");
    assert!(out.contains("username      msp-tom.tech"), "{out}");
    assert!(out.contains("technician    yes"), "{out}");
    assert!(out.contains("app roles     Kiosk.Technician"), "{out}");
    assert!(out.contains(&format!("object id     {}", tom.oid)), "{out}");
    // The code printed was the one Entra issued: it is used up now.
    assert!(!k.sim.approve_user_code(&code_on(&out).unwrap(), None));

    // Same store, same sealing as the panel: the record is there with a cached refresh token.
    let stored = k.services.store.user_by_oid(&tom.oid).unwrap().unwrap();
    assert_eq!(stored, first.user);
    assert!(stored.is_technician);
    assert!(k.services.store.refresh_token(&tom.oid).unwrap().is_some());

    let screen2 = Screen::default();
    let task = run(screen2.clone());
    approve_code_shown(&screen2, &k.sim, &tom.oid).await;
    assert!(!task.await.unwrap().unwrap().created);
    assert!(screen2.text().contains("The panel updated this user"));
    assert_eq!(k.services.store.list_users().unwrap().len(), 1);

    for token in k.sim.issued_tokens() {
        let secret = token.value.expose_secret();
        for out in [screen.text(), screen2.text()] {
            assert!(!out.contains(secret), "{:?} token printed", token.kind);
        }
    }
}

#[tokio::test]
async fn signin_failure_gives_admin_advice_and_stores_nothing() {
    let k = kiosk(|_| {}, |_| {}).await;
    let megan = k.user("megan@contoso.example");
    k.sim
        .set_sign_in_policy(&megan.oid, Some(SignInPolicy::SecurityDefaultsBlock));
    let services = k.services.clone();
    let screen = Screen::default();
    let task = tokio::spawn({
        let mut screen = screen.clone();
        async move { signin::run(&services, &mut screen).await }
    });
    approve_code_shown(&screen, &k.sim, &megan.oid).await;
    match task.await.unwrap() {
        Err(SignInError::Entra { advice, source }) => {
            assert!(
                advice.starts_with("security defaults block device-code sign-in"),
                "{advice}"
            );
            assert_eq!(source.aadsts_code(), Some(530035));
        }
        other => panic!("expected Entra's refusal: {other:?}"),
    }
    assert!(k.services.store.list_users().unwrap().is_empty());
}

/// A config needs at least one workflow.
const WORKFLOW: &str =
    "[[workflows]]\nid = \"scan\"\nlabel = \"Scan to OneDrive\"\ndestination = \"onedrive\"\n";

/// The kiosk's config for the simulated tenant, as a TOML file for the binary.
fn write_config(k: &Kiosk) -> std::path::PathBuf {
    let c = &k.services.config;
    let path = k.dir.path().join("kiosk.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nname = \"test\"\nstate_dir = \"{}\"\n\n[entra]\nauthority_host = \"{}\"\n\
             tenant = \"{}\"\nclient_id = \"{}\"\nallowed_tenants = [\"{}\"]\n\n[graph]\n\
             endpoint = \"{}\"\n\n{WORKFLOW}",
            k.state_dir().display(),
            c.entra.authority_host,
            c.entra.tenant,
            c.entra.client_id,
            c.entra.tenant,
            c.graph.endpoint
        ),
    )
    .unwrap();
    path
}

fn run_binary(args: Vec<String>) -> std::process::Output {
    Command::new(kiosk_bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

// Multi-threaded: the simulator keeps serving while the child process talks to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_command_exits_non_zero_when_something_is_wrong() {
    let k = kiosk(|_| {}, |_| {}).await;
    let config = write_config(&k);
    let args = vec![
        "--config".to_string(),
        config.display().to_string(),
        "doctor".to_string(),
    ];

    let ok = tokio::task::spawn_blocking({
        let args = args.clone();
        move || run_binary(args)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("[ok]      app registration"), "{stdout}");
    assert!(stdout.ends_with("No problems found.\n"), "{stdout}");

    k.sim.set_public_client_flows(false);
    let bad = tokio::task::spawn_blocking(move || run_binary(args))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "[PROBLEM] app registration: public client flows are disabled for this app registration"
        ),
        "{stdout}"
    );

    // A config that does not load is a finding too, naming the key.
    std::fs::write(&config, "[entra]\ntenant = \"x y\"\nclient_id = \"nope\"\n").unwrap();
    let broken = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            run_binary(vec![
                "--config".into(),
                config.display().to_string(),
                "doctor".into(),
            ])
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("[PROBLEM] config: "), "{stdout}");
    assert!(stdout.contains("entra."), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signin_command_signs_in_from_the_terminal() {
    let k = kiosk(|_| {}, |_| {}).await;
    let config = write_config(&k);
    let megan = k.user("megan@contoso.example");
    let mut child = Command::new(kiosk_bin())
        .args(["--config", &config.display().to_string(), "signin"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (code_tx, code_rx) = tokio::sync::oneshot::channel::<String>();
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut code_tx = Some(code_tx);
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(code) = line.strip_prefix("    ").filter(|c| c.len() == 9) {
                if let Some(tx) = code_tx.take() {
                    let _ = tx.send(code.to_string());
                }
            }
            lines.push(line);
        }
        let status = child.wait().unwrap();
        (status, lines.join("\n"))
    });
    let code = code_rx.await.expect("the user code is printed");
    // Megan types the code on her phone.
    assert!(k.sim.approve_user_code(&code, Some(&megan.oid)));
    let (status, out) = reader.await.unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("The panel created this user"), "{out}");
    assert!(out.contains("UPN           megan@contoso.example"), "{out}");
    for token in k.sim.issued_tokens() {
        assert!(!out.contains(token.value.expose_secret()));
    }
    // Provisioned into the panel's own state directory: the panel's services find her.
    let stored = k.services.store.user_by_oid(&megan.oid).unwrap().unwrap();
    assert_eq!(stored.username, "megan");
}

#[tokio::test]
async fn national_clouds_are_accepted_and_plain_http_only_on_loopback() {
    let base = |authority: &str, graph: &str| {
        format!(
            "[entra]\nauthority_host = \"{authority}\"\ntenant = \"contoso.onmicrosoft.us\"\n\
             client_id = \"3b8e4d2a-1c6f-4f0b-9a7d-5e2c8b1f6a90\"\n\n[graph]\nendpoint = \"{graph}\"\n\n\
             {WORKFLOW}"
        )
    };
    for (authority, graph) in [
        (
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com/v1.0",
        ),
        (
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us/v1.0",
        ),
        (
            "https://login.microsoftonline.us",
            "https://dod-graph.microsoft.us/v1.0",
        ),
        (
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn/v1.0",
        ),
        ("http://127.0.0.1:8400", "http://127.0.0.1:8400/v1.0"),
        ("http://[::1]:8400", "http://localhost:8400/v1.0"),
    ] {
        let config = Config::from_toml_str(&base(authority, graph))
            .unwrap_or_else(|e| panic!("{authority} {graph}: {e}"));
        let url = config.entra.authority_host_url().unwrap();
        let meta = mfp_kiosk::auth::discovery::metadata_url(&url, &config.entra.tenant).unwrap();
        assert_eq!(meta.host_str(), url.host_str());
        assert!(
            GraphClient::new(url::Url::parse(graph).unwrap()).is_ok(),
            "{graph}"
        );
        assert_eq!(doctor::cloud_mismatch(authority, graph), None);
    }
    for (authority, graph, key) in [
        (
            "http://login.microsoftonline.us",
            "https://graph.microsoft.us/v1.0",
            "entra.authority_host",
        ),
        (
            "https://login.microsoftonline.us",
            "http://graph.microsoft.us/v1.0",
            "graph.endpoint",
        ),
        (
            "http://10.0.0.7",
            "https://graph.microsoft.com/v1.0",
            "entra.authority_host",
        ),
    ] {
        let err = Config::from_toml_str(&base(authority, graph)).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
    }
    assert!(GraphClient::new(url::Url::parse("http://graph.microsoft.us/v1.0").unwrap()).is_err());
    // The client enforces it too, before any request leaves.
    let err = EntraClient::connect(EntraSettings {
        authority_host: url::Url::parse("http://login.microsoftonline.us").unwrap(),
        tenant: "organizations".into(),
        client_id: "3b8e4d2a-1c6f-4f0b-9a7d-5e2c8b1f6a90".into(),
        scopes: vec!["openid".into()],
        allowed_tenants: vec![],
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, EntraError::Discovery(DiscoveryError::Insecure { .. })),
        "{err:?}"
    );
}
