//! Fixture of the directory sync tests: a simulated tenant with a kiosk group (badges in
//! `extensionAttribute3` as hex), the panel's services aimed at it with `[directory]` on, and
//! one app credential generated per test process and registered with each simulator.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, OnceLock};

use mfp_kiosk::app::signin;
use mfp_kiosk::directory::sync::{self, Directory, SyncReport};
use mfp_kiosk::directory::DirectoryError;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::sim::{SimGroup, SimOptions, SimUser};
use secrecy::SecretString;

#[path = "../entra_support/mod.rs"]
mod entra_support;
pub use entra_support::{kiosk, Kiosk};

pub const GROUP: &str = "11111111-2222-4333-8444-555555555555";
pub const NESTED: &str = "66666666-7777-4888-9999-000000000000";
pub const EXT3: &str = "onPremisesExtensionAttributes.extensionAttribute3";

/// Key and certificate PEM, generated once per test process (RSA generation is the slow part).
fn credential_pems() -> &'static (String, String) {
    static PEMS: OnceLock<(String, String)> = OnceLock::new();
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

/// Oid of directory user `i`.
pub fn oid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

pub fn upn(i: usize) -> String {
    format!("user{i:05}@contoso.example")
}

/// The badge a reader yields for user `i` (10 decimal digits) and how the directory keeps it
/// (hex, lower case).
pub fn badge(i: usize) -> (String, String) {
    let n = 4_410_000 + i as u64;
    (format!("{n:010}"), format!("{n:x}"))
}

/// `users` directory users (1..=users) in GROUP, those from `nested_from` on through the
/// nested group; every user but each seventh has a badge. Pages of `page` entries.
pub async fn tenant(users: usize, nested_from: usize, page: usize) -> Kiosk {
    tenant_with(users, nested_from, page, |_| {}, |_| {}).await
}

/// [`tenant`], then `sim` and `config` adjust the simulator and the panel's config.
pub async fn tenant_with(
    users: usize,
    nested_from: usize,
    page: usize,
    sim: impl FnOnce(&mut SimOptions),
    config: impl FnOnce(&mut mfp_kiosk::config::Config),
) -> Kiosk {
    let k = kiosk(
        |o: &mut SimOptions| {
            o.directory_page_size = page;
            let mut g = SimGroup::new(GROUP, "Kiosk users");
            let mut n = SimGroup::new(NESTED, "Kiosk users (Finance)");
            g.groups.push(NESTED.into());
            for i in 1..=users {
                o.users
                    .push(SimUser::new(&upn(i), &format!("User {i:05}")).with_oid(&oid(i)));
                if i >= nested_from {
                    n.members.push(oid(i));
                } else {
                    g.members.push(oid(i));
                }
                if i % 7 != 0 {
                    o.user_attributes
                        .push((oid(i), EXT3.into(), badge(i).1.into()));
                }
                o.user_attributes
                    .push((oid(i), "department".into(), "Finance".into()));
            }
            o.groups = vec![g, n];
            sim(o);
        },
        |c| {
            c.directory.enabled = true;
            c.directory.groups = vec![GROUP.into()];
            c.directory.card_attribute = Some(EXT3.into());
            c.directory.card_normalise = vec!["hex_to_dec".into(), "pad_left:10".into()];
            c.readers.normalise = vec![];
            config(c);
        },
    )
    .await;
    write_credential(&k.services.config);
    k.sim
        .register_app_certificate(&credential_pems().1)
        .unwrap();
    k
}

/// Writes the test credential where `config` looks for it.
fn write_credential(config: &mfp_kiosk::config::Config) {
    let (key, cert) = credential_pems();
    let (kp, cp) = mfp_kiosk::directory::credential::default_paths(config);
    std::fs::create_dir_all(kp.parent().unwrap()).unwrap();
    for (path, text) in [(&kp, key), (&cp, cert)] {
        let mut f = mfp_kiosk::fsmode::create_private_file(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }
}

/// Another panel of the fleet: the same config and tenant, its own state directory (store,
/// device key, credential files).
pub struct Panel {
    pub services: Arc<mfp_kiosk::app::services::Services>,
    pub sessions: signin::SessionTokens,
    _dir: tempfile::TempDir,
}

pub fn second_panel(k: &Kiosk) -> Panel {
    let dir = tempfile::tempdir().unwrap();
    let mut config = k.services.config.clone();
    config.device.state_dir = dir.path().join("state");
    write_credential(&config);
    Panel {
        services: mfp_kiosk::admin::signin::services(config).unwrap(),
        sessions: Default::default(),
        _dir: dir,
    }
}

impl Panel {
    pub async fn sync(&self) -> Result<SyncReport, DirectoryError> {
        let dir = Directory::from_config(&self.services.config)?;
        let key = Arc::new(
            mfp_kiosk::secrets::DeviceKey::load_or_create(
                &self.services.config.state_dir().join("device.key"),
            )
            .unwrap(),
        );
        sync::run(&self.services.store, &key, &dir, "test").await
    }

    pub async fn tap(&self, number: &str) -> Event {
        signin::lookup_card(
            &self.services,
            &self.sessions,
            1,
            SecretString::from(number),
            false,
        )
        .await
    }
}

pub fn directory(k: &Kiosk) -> Directory {
    Directory::from_config(&k.services.config).unwrap()
}

pub async fn run(k: &Kiosk, dir: &Directory) -> Result<SyncReport, DirectoryError> {
    sync::run(&k.services.store, &device_key(k), dir, "test").await
}

pub fn device_key(k: &Kiosk) -> Arc<mfp_kiosk::secrets::DeviceKey> {
    Arc::new(
        mfp_kiosk::secrets::DeviceKey::load_or_create(&k.state_dir().join("device.key")).unwrap(),
    )
}

/// The card write-backs due now, as the panel's worker works them between syncs.
pub async fn write_back(k: &Kiosk, dir: &Directory) -> Result<SyncReport, DirectoryError> {
    sync::write_back(&k.services.store, &device_key(k), dir, "test").await
}

pub async fn tap(k: &Kiosk, number: &str) -> Event {
    signin::lookup_card(
        &k.services,
        &k.sessions,
        1,
        SecretString::from(number),
        false,
    )
    .await
}
