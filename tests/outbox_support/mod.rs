//! Shared helpers of the upload and outbox tests: a simulated cloud, a signed-in user's token
//! source (refreshing through the simulated Entra), test files and drive inspection.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use mfp_kiosk::auth::entra::{EntraClient, EntraSettings};
use mfp_kiosk::graph::{BoxedTokenFuture, TokenError, TokenSource};
use mfp_kiosk::identity::{UserRecord, UserStatus};
use mfp_kiosk::sim::{KillPhase, SimCloud, SimOptions, SimUser};
use secrecy::SecretString;
use tempfile::TempDir;

pub const SCOPES: &[&str] = &[
    "openid",
    "profile",
    "offline_access",
    "User.Read",
    "Files.ReadWrite",
    "Sites.ReadWrite.All",
];

pub async fn start_sim(configure: impl FnOnce(&mut SimOptions)) -> (SimCloud, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimOptions::demo(dir.path().join("drive"));
    opts.device_code_interval_secs = 1;
    configure(&mut opts);
    (SimCloud::start(opts).await.unwrap(), dir)
}

pub fn user(sim: &SimCloud, upn: &str) -> SimUser {
    sim.users().into_iter().find(|u| u.upn == upn).unwrap()
}

/// A user's tokens from a device-code sign-in; `token(true)` redeems the refresh token.
pub struct SimTokens {
    entra: EntraClient,
    state: Mutex<(SecretString, SecretString)>,
    pub refreshes: AtomicUsize,
}

impl TokenSource for SimTokens {
    fn token(&self, refresh: bool) -> BoxedTokenFuture<'_> {
        Box::pin(async move {
            if !refresh {
                return Ok(self.state.lock().unwrap().0.clone());
            }
            let rt = self.state.lock().unwrap().1.clone();
            let set = self.entra.refresh(&rt).await.map_err(|e| TokenError {
                message: e.to_string(),
                permanent: e.is_invalid_grant(),
            })?;
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            let mut state = self.state.lock().unwrap();
            state.0 = set.access_token.clone();
            if let Some(rt) = set.refresh_token {
                state.1 = rt;
            }
            Ok(set.access_token)
        })
    }
}

pub async fn sign_in(sim: &SimCloud, oid: &str) -> SimTokens {
    let entra = EntraClient::connect(EntraSettings {
        authority_host: sim.authority_host(),
        tenant: sim.tenant_id().to_string(),
        client_id: sim.client_id().to_string(),
        scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        allowed_tenants: Vec::new(),
    })
    .await
    .unwrap();
    let pending = entra.start_device_code().await.unwrap();
    assert!(sim.approve_pending(Some(oid)));
    let set = entra.wait_for_device_code(pending).await.unwrap();
    SimTokens {
        entra,
        state: Mutex::new((set.access_token, set.refresh_token.expect("offline_access"))),
        refreshes: AtomicUsize::new(0),
    }
}

/// Deterministic pseudo-random content (xorshift), so files differ and corruption shows.
pub fn content(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

pub fn write_file(dir: &Path, name: &str, size: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let data = content(size, seed);
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// A local user record for a simulated user, so jobs can reference it.
pub fn user_record(u: &SimUser, tenant: &str) -> UserRecord {
    let now = Utc::now();
    UserRecord {
        oid: u.oid.clone(),
        tenant_id: tenant.to_string(),
        upn: u.upn.clone(),
        display_name: u.display_name.clone(),
        mail: u.mail.clone(),
        username: u.mail_nickname.clone(),
        roles: Vec::new(),
        groups: Vec::new(),
        is_technician: false,
        status: UserStatus::Active,
        created_at: now,
        updated_at: now,
        last_online_at: now,
    }
}

impl SimTokens {
    /// The current access token.
    pub async fn state_token(&self) -> SecretString {
        self.state.lock().unwrap().0.clone()
    }
}

/// A panel config (TOML) pointing at the simulated cloud, with the demo's two workflows.
pub fn panel_config(sim: &SimCloud, state_dir: &Path) -> String {
    format!(
        r#"
[device]
name = "test-panel"
state_dir = "{state}"

[entra]
authority_host = "{authority}"
tenant = "{tenant}"
client_id = "{client}"
allowed_tenants = ["{tenant}"]

[graph]
endpoint = "{graph}"

[readers]
normalise = ["trim"]

[readers.pcsc]
enabled = false

[[workflows]]
id = "scan-to-onedrive"
label = "Scan to OneDrive"
destination = "onedrive"
folder = "Scans"
file_name = "Scan {{seq}}.pdf"
resolution_dpi = 100
color_mode = "gray"
source = "flatbed"

[[workflows]]
id = "finance-invoices"
label = "Invoices to Finance"
destination = "sharepoint"
site = "contoso.sharepoint.com:/sites/Finance"
library = "Documents"
folder = "Invoices"
file_name = "{{user}} {{seq}}.pdf"
resolution_dpi = 100
color_mode = "bw"
source = "adf"
"#,
        state = state_dir.display(),
        authority = sim.authority_host(),
        tenant = sim.tenant_id(),
        client = sim.client_id(),
        graph = sim.graph_endpoint(),
    )
}

/// Writes the config, signs `upn` in through the simulated Entra and provisions them in the
/// panel's store with their sealed refresh token (as a sign-in on the panel would). Returns the
/// config path and the user's object id.
pub async fn provisioned_panel(sim: &SimCloud, root: &Path, upn: &str) -> (PathBuf, String) {
    use mfp_kiosk::app::Services;
    use mfp_kiosk::config::Config;
    let state = root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let path = root.join("kiosk.toml");
    std::fs::write(&path, panel_config(sim, &state)).unwrap();
    let config = Config::load(&path).unwrap();
    let entra = EntraClient::connect(EntraSettings {
        authority_host: sim.authority_host(),
        tenant: sim.tenant_id().to_string(),
        client_id: sim.client_id().to_string(),
        scopes: config.entra.scopes.clone(),
        allowed_tenants: Vec::new(),
    })
    .await
    .unwrap();
    let pending = entra.start_device_code().await.unwrap();
    let oid = user(sim, upn).oid;
    assert!(sim.approve_pending(Some(&oid)));
    let set = entra.wait_for_device_code(pending).await.unwrap();
    let factory = mfp_kiosk::app::scanner_factory(&config, false);
    let services = Services::new(config, factory).unwrap();
    services
        .provision(
            set.id_claims.as_ref().unwrap(),
            None,
            set.refresh_token.as_ref(),
            None,
        )
        .unwrap();
    (path, oid)
}

/// The `mfp-kiosk` binary under test. `MFP_KIOSK_BIN` overrides it (for machines where several
/// checkouts share one target directory and overwrite each other's binary).
pub fn kiosk_bin() -> PathBuf {
    std::env::var_os("MFP_KIOSK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mfp-kiosk")))
}

/// Arms `sim` to kill -9 `child` at its `nth` Graph request, at `phase` of it, and to reap
/// it; `killed` is set once that happened (the process may also end before the kill point).
pub fn kill_at_request(
    sim: &SimCloud,
    nth: u64,
    phase: KillPhase,
    child: &Arc<Mutex<Child>>,
    killed: &Arc<AtomicBool>,
) {
    let (victim, flag) = (child.clone(), killed.clone());
    sim.arm_kill(
        nth,
        phase,
        Arc::new(move || {
            let mut c = victim.lock().unwrap();
            if c.kill().is_ok() {
                let _ = c.wait();
                flag.store(true, Ordering::SeqCst);
            }
        }),
    );
}
