//! Shared fixture of the Entra integration tests: the simulated tenant on loopback and the
//! panel's own services (SQLite store, device key, Entra and Graph clients) pointed at it.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use mfp_kiosk::app::services::{ServiceError, Services};
use mfp_kiosk::app::signin::{self, SessionTokens};
use mfp_kiosk::config::Config;
use mfp_kiosk::identity::UserRecord;
use mfp_kiosk::sim::{SimCloud, SimOptions, SimUser};
use secrecy::SecretString;
use tempfile::TempDir;

pub struct Kiosk {
    pub sim: SimCloud,
    pub services: Arc<Services>,
    pub sessions: SessionTokens,
    pub dir: TempDir,
}

/// The demo config (username prefix `msp-`, UPN rule) aimed at a fresh simulated tenant.
pub async fn kiosk(
    configure_sim: impl FnOnce(&mut SimOptions),
    configure: impl FnOnce(&mut Config),
) -> Kiosk {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimOptions::demo(dir.path().join("drive"));
    opts.device_code_interval_secs = 1;
    configure_sim(&mut opts);
    let sim = SimCloud::start(opts).await.unwrap();
    let mut config = Config::demo_default();
    config.device.state_dir = dir.path().join("state");
    config.entra.authority_host = sim.authority_host().to_string();
    config.entra.tenant = sim.tenant_id().to_string();
    config.entra.client_id = sim.client_id().to_string();
    config.entra.allowed_tenants = vec![sim.tenant_id().to_string()];
    config.graph.endpoint = sim.graph_endpoint().to_string();
    // The demo syncs its simulated directory; these tests aim at a fresh tenant and opt in.
    config.directory.enabled = false;
    configure(&mut config);
    let services = mfp_kiosk::admin::signin::services(config).unwrap();
    Kiosk {
        sim,
        services,
        sessions: SessionTokens::default(),
        dir,
    }
}

impl Kiosk {
    pub fn user(&self, upn: &str) -> SimUser {
        self.sim.users().into_iter().find(|u| u.upn == upn).unwrap()
    }

    /// The panel's Microsoft sign-in after the device code: the user (`oid`) approves on the
    /// phone, then the same provisioning, sealing and card binding the panel runs.
    pub async fn sign_in(
        &self,
        oid: &str,
        link_card: Option<&str>,
    ) -> Result<UserRecord, ServiceError> {
        let entra = self.services.entra().await?;
        let pending = entra.start_device_code().await?;
        assert!(self.sim.approve_pending(Some(oid)), "nothing to approve");
        let tokens = entra.wait_for_device_code(pending).await?;
        signin::complete_microsoft_sign_in(
            &self.services,
            &self.sessions,
            tokens,
            link_card.map(SecretString::from),
        )
        .await
    }

    pub fn audit_actions(&self) -> Vec<String> {
        let mut entries = self.services.store.recent_audit(1000).unwrap();
        entries.reverse();
        entries.into_iter().map(|e| e.action).collect()
    }

    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }
}

/// A writer a tracing subscriber logs into.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}
