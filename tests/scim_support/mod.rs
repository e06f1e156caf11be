//! Fixture of the SCIM tests: the panel's services over a real SQLite store (simulated Entra
//! on loopback, as the other panel tests), the SCIM endpoint started on a free loopback port
//! with a fresh token, and a reqwest client speaking to it as Entra's provisioning agent does.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use mfp_kiosk::app::signin;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::scim::{self, auth, Options};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

#[path = "../entra_support/mod.rs"]
mod entra_support;
pub use entra_support::Kiosk;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const KIOSK: &str = "urn:ietf:params:scim:schemas:extension:mfpkiosk:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub struct Scim {
    pub k: Kiosk,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    /// Oids the endpoint reported revoked (the panel ends their sessions).
    pub revoked: Arc<Mutex<Vec<String>>>,
    /// The endpoint: it stops when the fixture is dropped.
    _running: scim::Running,
}

pub async fn scim() -> Scim {
    scim_with(|_| {}).await
}

/// A panel with badges kept as hex by Entra (`directory.card_normalise`) and readers that
/// yield 10 decimal digits; `tune` adjusts the endpoint.
pub async fn scim_with(tune: impl FnOnce(&mut Options)) -> Scim {
    let k = entra_support::kiosk(
        |_| {},
        |c| {
            c.directory.card_normalise = vec!["hex_to_dec".into(), "pad_left:10".into()];
            c.readers.normalise = vec![];
            c.workflows[0].allowed_roles = vec!["Kiosk.Technician".into()];
        },
    )
    .await;
    let (token, hash) = auth::generate();
    let mut opts = Options {
        listen: ([127, 0, 0, 1], 0).into(),
        tls: None,
        token: hash,
        max_body: 64 * 1024,
        rate_per_minute: 100_000,
    };
    tune(&mut opts);
    let key = Arc::new(
        mfp_kiosk::secrets::DeviceKey::load_or_create(&k.state_dir().join("device.key")).unwrap(),
    );
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let r = revoked.clone();
    let running = scim::start(
        &k.services.config,
        opts,
        k.services.store.clone(),
        key,
        move |oid| r.lock().unwrap().push(oid.to_string()),
    )
    .unwrap();
    Scim {
        k,
        base: running.base_url.clone(),
        _running: running,
        token,
        http: reqwest::Client::new(),
        revoked,
    }
}

/// The badge number a reader yields for `n`, and how Entra holds it (hex).
pub fn badge(n: u64) -> (String, String) {
    (format!("{n:010}"), format!("{n:x}"))
}

/// A user as Entra's provisioning service POSTs it (mailNickname -> userName, objectId ->
/// externalId, mail -> the work email, a card attribute -> cardNumbers).
pub fn entra_user(nick: &str, oid: &str, card_hex: Option<&str>) -> Value {
    let mut v = json!({
        "schemas": [USER, ENTERPRISE, KIOSK],
        "externalId": oid,
        "userName": nick,
        "active": true,
        "displayName": format!("{nick} Vance"),
        "emails": [{"primary": true, "type": "work", "value": format!("{nick}@contoso.example")}],
        "name": {"formatted": format!("{nick} Vance"), "familyName": "Vance", "givenName": nick},
        ENTERPRISE: {"department": "Retail"},
    });
    if let Some(c) = card_hex {
        v[KIOSK] = json!({"cardNumbers": [c], "loginMethod": "entra"});
    }
    v
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

impl Scim {
    /// One request with the right token; returns status and body (`null` when empty).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(Some(&self.token), method, path, body.map(|b| b.to_string()))
            .await
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status != 204 && status != 401 {
            assert_eq!(
                resp.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("application/scim+json"),
                "status {status}"
            );
        }
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Creates a user and returns its SCIM id.
    pub async fn create(&self, body: &Value) -> String {
        let (s, v) = self.post("/Users", body).await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// A badge tap at the panel's reader.
    pub async fn tap(&self, number: &str) -> Event {
        signin::lookup_card(
            &self.k.services,
            &self.k.sessions,
            1,
            SecretString::from(number),
            false,
        )
        .await
    }

    pub fn audit_by_scim(&self) -> Vec<String> {
        self.k
            .services
            .store
            .recent_audit(100)
            .unwrap()
            .into_iter()
            .filter(|e| e.actor == "scim")
            .map(|e| e.action)
            .collect()
    }
}

/// Encodes a filter for a query string.
pub fn q(filter: &str) -> String {
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}
