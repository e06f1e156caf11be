//! Tokens the simulated Entra issues: RS256 ID tokens (v2.0 claims), RS256 access tokens for
//! Microsoft Graph (v1.0 claims, verified by the Graph simulator), opaque refresh tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::keys::VerifyError;
use super::state::{random_token, Shared};
use super::{SimError, SimUser};

/// Scopes that are about the sign-in itself rather than Graph permissions.
pub(crate) const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];
/// The application id of Microsoft Graph: the `aud` of its access tokens.
pub(crate) const GRAPH_AUDIENCE: &str = "00000003-0000-0000-c000-000000000000";

pub(crate) struct Minted {
    /// The token endpoint's JSON answer.
    pub body: serde_json::Value,
    pub refresh_token: Option<String>,
}

/// Claims of the Graph access token that the Graph simulator reads back.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub appid: String,
    pub oid: String,
    pub tid: String,
    // App-only tokens carry no user and no delegated scopes, but `roles` and `idtyp = app`.
    #[serde(default)]
    pub upn: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scp: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    pub sub: String,
    pub ver: String,
    pub uti: String,
}

fn pairwise_sub(oid: &str, client_id: &str) -> String {
    let digest = Sha256::digest(format!("{oid}|{client_id}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..32])
}

pub(crate) fn mint(
    shared: &Shared,
    user: &SimUser,
    client_id: &str,
    scopes: &[String],
) -> Result<Minted, SimError> {
    let now = chrono::Utc::now().timestamp();
    let lifetime = i64::try_from(shared.access_token_lifetime.as_secs()).unwrap_or(3600);
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut graph_scopes: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    if graph_scopes.is_empty() {
        graph_scopes.push("User.Read");
    }

    let access = AccessClaims {
        aud: GRAPH_AUDIENCE.to_string(),
        iss: format!("https://sts.windows.net/{}/", shared.tenant_id),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: client_id.to_string(),
        oid: user.oid.clone(),
        tid: shared.tenant_id.clone(),
        upn: user.upn.clone(),
        name: user.display_name.clone(),
        scp: graph_scopes.join(" "),
        roles: Vec::new(),
        idtyp: None,
        sub: pairwise_sub(&user.oid, GRAPH_AUDIENCE),
        ver: "1.0".into(),
        uti: random_token(16),
    };

    let keys = shared.keys();
    let access_token = keys.sign(&access)?;
    let id_token = if has("openid") {
        let mut claims = json!({
            "aud": client_id,
            "iss": shared.issuer(),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": pairwise_sub(&user.oid, client_id),
            "oid": user.oid,
            "tid": shared.tenant_id,
            "preferred_username": user.upn,
            "name": user.display_name,
            "ver": "2.0",
            "uti": random_token(16),
        });
        if has("email") {
            if let Some(mail) = &user.mail {
                claims["email"] = json!(mail);
            }
        }
        if !user.roles.is_empty() {
            claims["roles"] = json!(user.roles);
        }
        if !user.groups.is_empty() {
            claims["groups"] = json!(user.groups);
        }
        Some(keys.sign(&claims)?)
    } else {
        None
    };
    drop(keys);

    let refresh_token = has("offline_access").then(|| format!("0.A{}", random_token(96)));
    let granted: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "offline_access")
        .collect();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": granted.join(" "),
        "expires_in": lifetime - 1,
        "ext_expires_in": lifetime - 1,
        "access_token": access_token,
    });
    if let Some(rt) = &refresh_token {
        body["refresh_token"] = json!(rt);
    }
    if let Some(id) = id_token {
        body["id_token"] = json!(id);
    }
    Ok(Minted {
        body,
        refresh_token,
    })
}

/// Checks a Graph bearer token like Graph does: signature, audience, lifetime (5 min skew),
/// tenant. The error text is what Graph would put in its 401 message.
pub(crate) fn verify_access_token(shared: &Shared, token: &str) -> Result<AccessClaims, String> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 300;
    validation.set_audience(&[GRAPH_AUDIENCE, "https://graph.microsoft.com"]);
    validation.set_required_spec_claims(&["exp", "aud", "nbf"]);
    let data = shared
        .keys()
        .verify::<AccessClaims>(token, &validation)
        .map_err(|e| match e {
            VerifyError::Malformed => "IDX14100: JWT is not well formed.".to_string(),
            VerifyError::UnknownKey => {
                "IDX10503: Signature validation failed. The token's kid is unknown.".to_string()
            }
            VerifyError::Rejected(ErrorKind::ExpiredSignature) => {
                "Lifetime validation failed, the token is expired.".to_string()
            }
            VerifyError::Rejected(ErrorKind::InvalidAudience) => {
                "Access token validation failure. Invalid audience.".to_string()
            }
            VerifyError::Rejected(ErrorKind::InvalidSignature) => {
                "IDX10511: Signature validation failed.".to_string()
            }
            VerifyError::Rejected(kind) => format!("Access token validation failure: {kind:?}"),
        })?;
    if data.claims.tid != shared.tenant_id {
        return Err("Access token validation failure. Invalid issuer.".into());
    }
    Ok(data.claims)
}
