//! The simulated directory behind Graph's `/users/delta` and `/groups/delta`, for app-only
//! tokens.
//!
//! Every change (a user created, updated, disabled, deleted; a member added or removed) gets the
//! next version number. A delta token is the version it was issued at (plus the directory's
//! epoch, so [`super::SimCloud::expire_delta_tokens`] turns every earlier token into `410
//! Gone`); a delta round returns what changed after it, pages of `page_size` entries ordered by
//! id with a key cursor in `$skiptoken`, and the last page carries the next `@odata.deltaLink`.
//! A round started without a token returns every live object. Deleted users come back as
//! `{"id", "@removed": {"reason": "deleted"}}` (soft-deleted: `"changed"`), removed members
//! as `members@delta` entries with `@removed`. Users delta needs the application permission
//! `User.Read.All`, groups delta `GroupMember.Read.All` (or `Group.Read.All`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::graph::graph_error;
use super::state::Shared;
use super::tokens::GRAPH_AUDIENCE;
use super::SimUser;

/// Properties a user object has besides extensions and extra attributes.
const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "mailNickname",
    "accountEnabled",
    "department",
    "jobTitle",
    "employeeId",
    "preferredLanguage",
    "officeLocation",
    "givenName",
    "surname",
    "onPremisesExtensionAttributes",
];

/// A directory user's state at its last change; `None` once deleted.
#[derive(Clone)]
pub(crate) struct DirEntry {
    pub version: u64,
    pub object: Option<Map<String, Value>>,
    pub removed_reason: &'static str,
}

#[derive(Clone, Default)]
pub(crate) struct GroupMember {
    pub is_group: bool,
    pub present: bool,
    pub version: u64,
}

#[derive(Clone, Default)]
pub(crate) struct SimGroupState {
    pub display_name: String,
    pub deleted: bool,
    pub version: u64,
    pub members: BTreeMap<String, GroupMember>,
}

pub(crate) struct DirectoryState {
    pub version: u64,
    pub epoch: u64,
    pub users: BTreeMap<String, DirEntry>,
    /// Attributes beyond what [`SimUser`] holds (department, badge attributes, extensions).
    pub attributes: BTreeMap<String, Map<String, Value>>,
    pub groups: BTreeMap<String, SimGroupState>,
    pub page_size: usize,
    pub users_delta_requests: u64,
    pub groups_delta_requests: u64,
    /// Successful `PATCH /users/{id}` so far.
    pub user_patches: u64,
}

impl DirectoryState {
    pub fn new(page_size: usize) -> Self {
        DirectoryState {
            version: 0,
            // Tokens of another simulator instance never match.
            epoch: rand::random::<u32>() as u64 + 1,
            users: BTreeMap::new(),
            attributes: BTreeMap::new(),
            groups: BTreeMap::new(),
            page_size: page_size.max(1),
            users_delta_requests: 0,
            groups_delta_requests: 0,
            user_patches: 0,
        }
    }

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Records the current state of `user` as a change.
    pub fn put_user(&mut self, user: &SimUser) {
        let mut o = Map::new();
        o.insert("id".into(), json!(user.oid));
        o.insert("userPrincipalName".into(), json!(user.upn));
        o.insert("displayName".into(), json!(user.display_name));
        o.insert("mail".into(), json!(user.mail));
        o.insert("mailNickname".into(), json!(user.mail_nickname));
        o.insert("accountEnabled".into(), json!(user.account_enabled));
        if let Some(extra) = self.attributes.get(&user.oid) {
            for (k, v) in extra {
                o.insert(k.clone(), v.clone());
            }
        }
        let version = self.bump();
        self.users.insert(
            user.oid.clone(),
            DirEntry {
                version,
                object: Some(o),
                removed_reason: "deleted",
            },
        );
    }

    pub fn delete_user(&mut self, oid: &str, reason: &'static str) {
        let version = self.bump();
        self.users.insert(
            oid.to_string(),
            DirEntry {
                version,
                object: None,
                removed_reason: reason,
            },
        );
        // Entra removes a deleted user from every group.
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for g in ids {
            self.set_member(&g, oid, false, false);
        }
    }

    /// Sets one attribute (`a.b` for a nested property such as
    /// `onPremisesExtensionAttributes.extensionAttribute3`) without bumping.
    pub fn set_attribute(&mut self, oid: &str, name: &str, value: Value) {
        let attrs = self.attributes.entry(oid.to_string()).or_default();
        match name.split_once('.') {
            Some((outer, inner)) => {
                let o = attrs.entry(outer.to_string()).or_insert_with(|| {
                    let mut m = Map::new();
                    if outer == "onPremisesExtensionAttributes" {
                        for i in 1..=15 {
                            m.insert(format!("extensionAttribute{i}"), Value::Null);
                        }
                    }
                    Value::Object(m)
                });
                if let Value::Object(m) = o {
                    m.insert(inner.to_string(), value);
                }
            }
            None => {
                attrs.insert(name.to_string(), value);
            }
        }
    }

    pub fn set_member(&mut self, group: &str, member: &str, is_group: bool, present: bool) {
        let Some(g) = self.groups.get(group) else {
            return;
        };
        match g.members.get(member) {
            Some(m) if m.present == present => return,
            None if !present => return,
            _ => {}
        }
        let version = self.bump();
        if let Some(g) = self.groups.get_mut(group) {
            g.members.insert(
                member.to_string(),
                GroupMember {
                    is_group,
                    present,
                    version,
                },
            );
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Epoch of the directory the cursor was made in.
    e: u64,
    /// Changes after this version (0 with `full`).
    s: u64,
    /// Up to this version.
    u: u64,
    /// Every live object, not only changes.
    f: bool,
    /// Last id (users) or `group/member` (groups) returned.
    a: String,
    /// `$select` (users) or the groups filter.
    q: String,
}

fn encode(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode(s: &str) -> Option<Cursor> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
}

/// Checks an app-only Graph token and one of `roles`.
pub(crate) fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    roles: &[&str],
) -> Result<(), Box<Response>> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or("")
        .trim();
    let unauthorized = |m: &str| {
        Box::new(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            m,
            headers,
        ))
    };
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 300;
    validation.set_audience(&[GRAPH_AUDIENCE, "https://graph.microsoft.com"]);
    let claims = shared
        .keys()
        .verify::<Value>(token, &validation)
        .map_err(|_| unauthorized("Access token validation failure."))?
        .claims;
    if claims.get("tid").and_then(|t| t.as_str()) != Some(shared.tenant_id.as_str()) {
        return Err(unauthorized(
            "Access token validation failure. Invalid issuer.",
        ));
    }
    let granted: Vec<&str> = claims
        .get("roles")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let app = claims.get("idtyp").and_then(|t| t.as_str()) == Some("app");
    if !app || !roles.iter().any(|r| granted.contains(r)) {
        return Err(Box::new(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            headers,
        )));
    }
    Ok(())
}

fn gone(shared: &Shared, headers: &HeaderMap, path: &str) -> Response {
    let mut r = graph_error(
        StatusCode::GONE,
        "resyncRequired",
        "Resync required. Replace any local cached data with a full synchronization.",
        headers,
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&shared.url(&format!("/v1.0/{path}"))) {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    r
}

fn page_size(d: &DirectoryState, headers: &HeaderMap) -> usize {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        })
        .and_then(|n| n.trim().parse::<usize>().ok());
    prefer.map_or(d.page_size, |p| p.clamp(1, 999).min(d.page_size))
}

/// The cursor of a request: from `$skiptoken` / `$deltatoken`, or a new full round.
fn cursor_of(
    d: &DirectoryState,
    q: &std::collections::HashMap<String, String>,
    fresh_query: String,
) -> Result<Cursor, ()> {
    if let Some(t) = q.get("$skiptoken") {
        let c = decode(t).ok_or(())?;
        return if c.e == d.epoch { Ok(c) } else { Err(()) };
    }
    if let Some(t) = q.get("$deltatoken") {
        let c = decode(t).ok_or(())?;
        if c.e != d.epoch {
            return Err(());
        }
        return Ok(Cursor {
            e: d.epoch,
            s: c.u,
            u: d.version,
            f: false,
            a: String::new(),
            q: c.q,
        });
    }
    Ok(Cursor {
        e: d.epoch,
        s: 0,
        u: d.version,
        f: true,
        a: String::new(),
        q: fresh_query,
    })
}

pub(crate) fn select_user(o: &Map<String, Value>, select: &[&str]) -> Value {
    let mut out = Map::new();
    for p in select {
        out.insert((*p).to_string(), o.get(*p).cloned().unwrap_or(Value::Null));
    }
    out.insert("id".into(), o.get("id").cloned().unwrap_or(Value::Null));
    Value::Object(out)
}

pub(crate) async fn users_delta(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(
        &shared,
        &headers,
        &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"],
    ) {
        return *r;
    }
    let mut d = shared.directory();
    d.users_delta_requests += 1;
    let select = q
        .get("$select")
        .cloned()
        .unwrap_or_else(|| "id,displayName,userPrincipalName".into());
    let mut c = match cursor_of(&d, &q, select) {
        Ok(c) => c,
        Err(()) => return gone(&shared, &headers, "users/delta"),
    };
    let props: Vec<&str> =
        c.q.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
    for p in &props {
        let known = USER_PROPERTIES.contains(p)
            || p.starts_with("extension_")
            || d.attributes.values().any(|a| a.contains_key(*p));
        if !known {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!("Could not find a property named '{p}' on type 'microsoft.graph.user'."),
                &headers,
            );
        }
    }
    let size = page_size(&d, &headers);
    let mut value = Vec::with_capacity(size);
    let mut last = None;
    let mut more = false;
    let range = d.users.range::<String, _>((
        std::ops::Bound::Excluded(c.a.clone()),
        std::ops::Bound::Unbounded,
    ));
    for (id, e) in range {
        let wanted = if c.f {
            e.object.is_some()
        } else {
            e.version > c.s && e.version <= c.u
        };
        if !wanted {
            continue;
        }
        if value.len() == size {
            more = true;
            break;
        }
        value.push(match &e.object {
            Some(o) => select_user(o, &props),
            None => json!({"id": id, "@removed": {"reason": e.removed_reason}}),
        });
        last = Some(id.clone());
    }
    let mut body = json!({
        "@odata.context": shared.url("/v1.0/$metadata#users"),
        "value": value,
    });
    if more {
        c.a = last.unwrap_or_default();
        body["@odata.nextLink"] =
            json!(shared.url(&format!("/v1.0/users/delta?$skiptoken={}", encode(&c))));
    } else {
        c.a = String::new();
        body["@odata.deltaLink"] =
            json!(shared.url(&format!("/v1.0/users/delta?$deltatoken={}", encode(&c))));
    }
    drop(d);
    Json(body).into_response()
}

/// Most `id eq` expressions a delta `$filter` may hold.
const MAX_FILTER_IDS: usize = 50;

/// `id eq 'a' or id eq 'b'` -> [a, b]; `None` without a filter.
fn parse_filter(f: &str) -> Option<Vec<String>> {
    let ids: Vec<String> = f
        .split(" or ")
        .filter_map(|p| {
            let v = p.trim().strip_prefix("id eq '")?.strip_suffix('\'')?;
            Some(v.to_string())
        })
        .collect();
    (!ids.is_empty()).then_some(ids)
}

pub(crate) async fn groups_delta(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(
        &shared,
        &headers,
        &[
            "GroupMember.Read.All",
            "Group.Read.All",
            "Directory.Read.All",
        ],
    ) {
        return *r;
    }
    let mut d = shared.directory();
    d.groups_delta_requests += 1;
    let filter = q.get("$filter").cloned().unwrap_or_default();
    let mut c = match cursor_of(&d, &q, filter) {
        Ok(c) => c,
        Err(()) => return gone(&shared, &headers, "groups/delta"),
    };
    let filtered = parse_filter(&c.q);
    // Graph takes at most 50 `id eq` expressions in a delta `$filter`.
    if filtered
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_FILTER_IDS)
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "The number of filter expressions in the query exceeds the limit of 50.",
            &headers,
        );
    }
    let mut ids = filtered.unwrap_or_else(|| d.groups.keys().cloned().collect());
    ids.sort();
    let size = page_size(&d, &headers);
    // Entries in (group, member) order after the cursor; "" as member = the group itself.
    let mut entries: Vec<(String, String, Value)> = Vec::new();
    let mut more = false;
    let mut last = String::new();
    'groups: for gid in ids {
        let Some(g) = d.groups.get(&gid) else {
            continue;
        };
        let self_key = format!("{gid}/");
        if g.deleted && !c.f && g.version > c.s && g.version <= c.u && self_key > c.a {
            if entries.len() == size {
                more = true;
                break;
            }
            entries.push((gid.clone(), g.display_name.clone(), json!(null)));
            last = self_key;
            continue;
        }
        if g.deleted {
            continue;
        }
        // Resume after the cursor's member when the cursor is in this group.
        let after =
            c.a.strip_prefix(&self_key)
                .filter(|_| c.a.starts_with(&self_key))
                .map(str::to_string);
        if after.is_none() && self_key <= c.a && !c.a.is_empty() {
            continue;
        }
        let from = match &after {
            Some(a) => std::ops::Bound::Excluded(a.clone()),
            None => std::ops::Bound::Unbounded,
        };
        for (mid, m) in g
            .members
            .range::<String, _>((from, std::ops::Bound::Unbounded))
        {
            let key = format!("{gid}/{mid}");
            let wanted = if c.f {
                m.present
            } else {
                m.version > c.s && m.version <= c.u
            };
            if !wanted {
                continue;
            }
            if entries.len() == size {
                more = true;
                break 'groups;
            }
            let ty = if m.is_group {
                "#microsoft.graph.group"
            } else {
                "#microsoft.graph.user"
            };
            let mut v = json!({"@odata.type": ty, "id": mid});
            if !m.present {
                v["@removed"] = json!({"reason": "deleted"});
            }
            entries.push((gid.clone(), g.display_name.clone(), v));
            last = key;
        }
    }
    // One object per group on this page, its member changes in members@delta.
    let mut value: Vec<Value> = Vec::new();
    for (gid, name, member) in entries {
        if member.is_null() {
            value.push(json!({"id": gid, "@removed": {"reason": "deleted"}}));
            continue;
        }
        match value.last_mut() {
            Some(v) if v["id"] == json!(gid) && v.get("members@delta").is_some() => {
                if let Some(list) = v["members@delta"].as_array_mut() {
                    list.push(member);
                }
            }
            _ => value.push(json!({"id": gid, "displayName": name, "members@delta": [member]})),
        }
    }
    let mut body = json!({
        "@odata.context": shared.url("/v1.0/$metadata#groups"),
        "value": value,
    });
    if more {
        c.a = last;
        body["@odata.nextLink"] =
            json!(shared.url(&format!("/v1.0/groups/delta?$skiptoken={}", encode(&c))));
    } else {
        c.a = String::new();
        body["@odata.deltaLink"] =
            json!(shared.url(&format!("/v1.0/groups/delta?$deltatoken={}", encode(&c))));
    }
    drop(d);
    Json(body).into_response()
}
