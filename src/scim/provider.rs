//! What each SCIM request means for the panel: documents checked by [`super::resource`],
//! changed by [`super::patch`], turned into the panel's view of the user ([`DirUser`]: UPN,
//! names, mail, enabled, the badge through `directory.card_normalise` and the device key) and
//! applied through the shared [`crate::directory::apply`] module in one store transaction,
//! audited as actor `scim` and recorded in the provisioning report. Every `cardNumbers` value
//! becomes a badge; `loginMethod: local` creates a local account. Blocking (SQLite): the server
//! runs writes on its [`super::writer`] thread and reads from `spawn_blocking`.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Map, Value};

use super::discovery::{list, MAX_RESULTS};
use super::error::ScimError;
use super::filter::{self, get_ci, CompareOp, Filter};
use super::patch::{self, PatchError};
use super::resource::{self, Kind, Meta, ResourceError, UserFacts, KIOSK_SCHEMA};
use crate::auth::card::CardPipeline;
use crate::directory::apply::{self, ApplyContext};
use crate::identity::provisioning::ProvisioningRules;
use crate::secrets::{self, DeviceKey};
use crate::store::{
    AppliedChange, Candidate, DirUser, Plan, ScimWrite, Store, StoreError, UserField,
};

/// Prefix of a stored card (its keyed hash) inside a document being patched: PATCH sees the
/// cards it does not change without their numbers ever being kept.
const KEPT_CARD: &str = "kept-card:";

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Resource(#[from] ResourceError),
    #[error(transparent)]
    Patch(#[from] PatchError),
    #[error(transparent)]
    Filter(#[from] filter::FilterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ProviderError> for ScimError {
    fn from(e: ProviderError) -> ScimError {
        match e {
            ProviderError::Resource(ResourceError::ReadOnly(a)) => {
                ScimError::Mutability(format!("{a} is read-only"))
            }
            ProviderError::Resource(e) => ScimError::InvalidValue(e.to_string()),
            ProviderError::Patch(e) => match e {
                PatchError::Syntax(_) => ScimError::InvalidSyntax(e.to_string()),
                PatchError::Path { .. } | PatchError::UnknownSchema(_) => {
                    ScimError::InvalidPath(e.to_string())
                }
                PatchError::NoTarget(_) => ScimError::NoTarget(e.to_string()),
                PatchError::Mutability(_) => ScimError::Mutability(e.to_string()),
                PatchError::Value(_) => ScimError::InvalidValue(e.to_string()),
            },
            ProviderError::Filter(e) => ScimError::InvalidFilter(e.to_string()),
            ProviderError::Store(StoreError::Conflict { field, value }) => {
                ScimError::Uniqueness(format!("{field} {value:?} is already taken"))
            }
            ProviderError::Store(e @ StoreError::Immutable { .. }) => {
                ScimError::Mutability(e.to_string())
            }
            ProviderError::Store(StoreError::UserNotFound(id)) => {
                ScimError::NotFound(format!("resource {id}"))
            }
            ProviderError::Store(e) => ScimError::Internal(e.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, ScimError>;

fn store<T>(r: std::result::Result<T, StoreError>) -> Result<T> {
    r.map_err(|e| ProviderError::Store(e).into())
}

/// `attributes` / `excludedAttributes` of a request.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl Projection {
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let split = |s: Option<&str>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
        };
        Projection {
            attributes: split(attributes),
            excluded: split(excluded),
        }
    }

    fn wants_members(&self) -> bool {
        let named = |l: &[String]| l.iter().any(|a| a.eq_ignore_ascii_case("members"));
        !named(&self.excluded) && (self.attributes.is_empty() || named(&self.attributes))
    }
}

/// Told the object id of each user a request revoked.
type OnRevoked = Box<dyn Fn(&str) + Send + Sync>;

/// The SCIM service provider over one store.
pub struct Provider {
    store: Store,
    key: Arc<DeviceKey>,
    pipeline: CardPipeline,
    rules: ProvisioningRules,
    tenant_id: String,
    base_url: String,
    on_revoked: Option<OnRevoked>,
}

impl Provider {
    pub fn new(
        store: Store,
        key: Arc<DeviceKey>,
        pipeline: CardPipeline,
        rules: ProvisioningRules,
        tenant_id: String,
        base_url: String,
    ) -> Provider {
        Provider {
            store,
            key,
            pipeline,
            rules,
            tenant_id,
            base_url,
            on_revoked: None,
        }
    }

    /// Called with the object id of every user a request revoked (their session ends).
    pub fn on_revoked(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Provider {
        self.on_revoked = Some(Box::new(f));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn planner(&self) -> impl Fn(&Candidate) -> Plan + '_ {
        move |c: &Candidate| {
            let ctx = ApplyContext {
                rules: &self.rules,
                tenant_id: &self.tenant_id,
                now: Utc::now(),
            };
            apply::plan(c, &ctx)
        }
    }

    fn revoked(&self, applied: &[AppliedChange]) {
        if let Some(f) = &self.on_revoked {
            for a in applied.iter().filter(|a| a.change == "revoked") {
                f(&a.oid);
            }
        }
    }

    fn user_json(&self, row: &crate::store::ScimUserRow, p: &Projection) -> Value {
        let v = resource::render(
            &row.doc,
            &Meta {
                kind: Kind::User,
                id: &row.id,
                base_url: &self.base_url,
                created: row.created_at,
                modified: row.updated_at,
                version: row.version,
            },
        );
        resource::project(Kind::User, v, &p.attributes, &p.excluded)
    }

    fn group_json(&self, row: &crate::store::ScimGroupRow, p: &Projection, members: bool) -> Value {
        let mut doc = row.doc.clone();
        if members {
            let list: Vec<Value> = row
                .members
                .iter()
                .map(|(id, display)| {
                    serde_json::json!({
                        "value": id,
                        "display": display,
                        "$ref": format!("{}/Users/{id}", self.base_url),
                    })
                })
                .collect();
            doc.insert("members".into(), Value::Array(list));
        }
        let v = resource::render(
            &doc,
            &Meta {
                kind: Kind::Group,
                id: &row.id,
                base_url: &self.base_url,
                created: row.created_at,
                modified: row.updated_at,
                version: row.version,
            },
        );
        resource::project(Kind::Group, v, &p.attributes, &p.excluded)
    }

    /// The panel's view of a user document; the card numbers become hashes here.
    fn write_of(
        &self,
        id: String,
        oid: String,
        facts: &UserFacts,
        kept: &[([u8; 32], String)],
        mut doc: Map<String, Value>,
        request: String,
    ) -> Result<ScimWrite> {
        let upn = if facts.user_name.contains('@') {
            facts.user_name.clone()
        } else {
            facts.work_email.clone().ok_or_else(|| {
                ScimError::InvalidValue(
                    "userName has no domain and there is no work email: map userPrincipalName \
                     or mail to emails[type eq \"work\"].value"
                        .into(),
                )
            })?
        };
        let mut cards: Vec<([u8; 32], String)> = Vec::new();
        let mut card_error = None;
        for n in &facts.card_numbers {
            if let Some(hex) = n.strip_prefix(KEPT_CARD) {
                if let Some(k) = kept.iter().find(|(h, _)| hex_of(h) == hex) {
                    cards.push(k.clone());
                }
                continue;
            }
            match self.pipeline.apply(n) {
                Ok(norm) => cards.push((self.key.card_hash(&norm), secrets::mask_card(&norm))),
                Err(e) => card_error = Some(e.to_string()),
            }
        }
        // The same badge twice (also as two spellings the pipeline makes equal) is one badge.
        let mut seen = std::collections::HashSet::new();
        cards.retain(|c| seen.insert(c.0));
        resource::strip_write_only(&mut doc);
        let s = |o: Option<&Value>, k: &str| {
            o.and_then(Value::as_object)
                .and_then(|o| get_ci(o, k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name = get_ci(&doc, "name");
        let display_name = facts
            .display_name
            .clone()
            .or_else(|| s(name, "formatted"))
            .or_else(|| {
                let g = s(name, "givenName").unwrap_or_default();
                let f = s(name, "familyName").unwrap_or_default();
                let full = format!("{g} {f}").trim().to_string();
                (!full.is_empty()).then_some(full)
            })
            .unwrap_or_else(|| facts.user_name.clone());
        let ent = get_ci(&doc, resource::ENTERPRISE_SCHEMA);
        let mut attrs = Map::new();
        for (k, v) in [
            ("department", s(ent, "department")),
            ("employeeId", s(ent, "employeeNumber")),
            (
                "jobTitle",
                get_ci(&doc, "title")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            (
                "preferredLanguage",
                get_ci(&doc, "preferredLanguage")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            (
                "loginMethod",
                facts.login_method.as_ref().map(|m| m.to_ascii_lowercase()),
            ),
        ] {
            if let Some(v) = v {
                attrs.insert(k.into(), Value::String(v));
            }
        }
        let dir = DirUser {
            oid: oid.clone(),
            upn,
            display_name,
            mail: facts.work_email.clone(),
            mail_nickname: (!facts.user_name.contains('@')).then(|| facts.user_name.clone()),
            enabled: facts.active,
            attrs,
            cards: cards.clone(),
            card_error,
            memberships: None,
        };
        Ok(ScimWrite {
            id,
            oid,
            user_name: facts.user_name.clone(),
            external_id: facts.external_id.clone(),
            work_email: facts.work_email.clone(),
            active: facts.active,
            doc,
            cards,
            dir,
            request,
        })
    }

    fn save_user(&self, w: ScimWrite, create: bool) -> Result<Value> {
        let planner = self.planner();
        let (row, applied) = store(self.store.scim_write_user(&w, create, &planner, Utc::now()))?;
        self.revoked(&applied);
        Ok(self.user_json(&row, &Projection::default()))
    }

    fn body_object(body: Value) -> Result<Map<String, Value>> {
        match body {
            Value::Object(o) => Ok(o),
            _ => Err(ScimError::InvalidSyntax(
                "the body must be a JSON object".into(),
            )),
        }
    }

    pub fn create_user(&self, body: Value) -> Result<Value> {
        let mut doc = Self::body_object(body)?;
        resource::normalise(Kind::User, &mut doc);
        let facts = resource::user_facts(&doc).map_err(ProviderError::from)?;
        let id = uuid::Uuid::new_v4().to_string();
        // Entra's objectId (the default externalId mapping) is the oid its sign-ins carry.
        let oid = facts
            .external_id
            .as_deref()
            .filter(|e| uuid::Uuid::try_parse(e).is_ok() && e.len() == 36)
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| id.clone());
        let w = self.write_of(id, oid, &facts, &[], doc, "POST /Users".into())?;
        self.save_user(w, true)
    }

    pub fn get_user(&self, id: &str, p: &Projection) -> Result<Value> {
        let row = store(self.store.scim_user(id))?
            .ok_or_else(|| ScimError::NotFound(format!("user {id}")))?;
        Ok(self.user_json(&row, p))
    }

    pub fn replace_user(&self, id: &str, body: Value) -> Result<Value> {
        let row = store(self.store.scim_user(id))?
            .ok_or_else(|| ScimError::NotFound(format!("user {id}")))?;
        let mut doc = Self::body_object(body)?;
        resource::normalise(Kind::User, &mut doc);
        let facts = resource::user_facts(&doc).map_err(ProviderError::from)?;
        let w = self.write_of(
            id.into(),
            row.oid,
            &facts,
            &row.cards,
            doc,
            format!("PUT /Users/{id}"),
        )?;
        self.save_user(w, false)
    }

    pub fn patch_user(&self, id: &str, body: &Value) -> Result<Value> {
        let ops = patch::parse_request(body).map_err(ProviderError::from)?;
        let row = store(self.store.scim_user(id))?
            .ok_or_else(|| ScimError::NotFound(format!("user {id}")))?;
        let mut doc = row.doc.clone();
        if !row.cards.is_empty() {
            let kept: Vec<Value> = row
                .cards
                .iter()
                .map(|(h, _)| Value::String(format!("{KEPT_CARD}{}", hex_of(h))))
                .collect();
            let ext = doc
                .entry(KIOSK_SCHEMA.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(ext) = ext {
                ext.insert("cardNumbers".into(), Value::Array(kept));
            }
        }
        patch::apply(Kind::User, &mut doc, &ops).map_err(ProviderError::from)?;
        resource::normalise(Kind::User, &mut doc);
        let facts = resource::user_facts(&doc).map_err(ProviderError::from)?;
        let n = ops.len();
        let w = self.write_of(
            id.into(),
            row.oid,
            &facts,
            &row.cards,
            doc,
            format!("PATCH /Users/{id} ({n} operation(s))"),
        )?;
        self.save_user(w, false)
    }

    pub fn delete_user(&self, id: &str) -> Result<()> {
        let planner = self.planner();
        let applied = store(self.store.scim_delete_user(id, &planner, Utc::now()))?
            .ok_or_else(|| ScimError::NotFound(format!("user {id}")))?;
        self.revoked(&applied);
        Ok(())
    }

    /// `GET /Users`: an empty ListResponse when nothing matches (Entra's test connection).
    pub fn list_users(
        &self,
        filter: Option<&str>,
        start: usize,
        count: usize,
        p: &Projection,
    ) -> Result<Value> {
        let conds = match filter {
            Some(f) => user_conditions(&filter::parse(f).map_err(ProviderError::from)?)?,
            None => Vec::new(),
        };
        let (total, rows) = store(self.store.scim_find_users(
            &conds,
            start - 1,
            count.min(MAX_RESULTS),
        ))?;
        Ok(list(
            rows.iter().map(|r| self.user_json(r, p)).collect(),
            total,
            start,
        ))
    }

    fn save_group(
        &self,
        id: &str,
        mut doc: Map<String, Value>,
        create: bool,
        request: String,
    ) -> Result<Value> {
        resource::normalise(Kind::Group, &mut doc);
        let (name, external_id, members) =
            resource::group_facts(&doc).map_err(ProviderError::from)?;
        doc.retain(|k, _| !k.eq_ignore_ascii_case("members"));
        let planner = self.planner();
        let (row, applied) = store(self.store.scim_write_group(
            id,
            &name,
            external_id.as_deref(),
            &doc,
            &members,
            create,
            &request,
            &planner,
            Utc::now(),
        ))
        .map_err(|e| match e {
            ScimError::NotFound(what) if what != format!("resource {id}") => {
                ScimError::InvalidValue(format!("members: no {what}"))
            }
            e => e,
        })?;
        self.revoked(&applied);
        Ok(self.group_json(&row, &Projection::default(), true))
    }

    pub fn create_group(&self, body: Value) -> Result<Value> {
        let doc = Self::body_object(body)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.save_group(&id, doc, true, "POST /Groups".into())
    }

    pub fn get_group(&self, id: &str, p: &Projection) -> Result<Value> {
        let members = p.wants_members();
        let row = store(self.store.scim_group(id, members))?
            .ok_or_else(|| ScimError::NotFound(format!("group {id}")))?;
        Ok(self.group_json(&row, p, members))
    }

    pub fn replace_group(&self, id: &str, body: Value) -> Result<Value> {
        if store(self.store.scim_group(id, false))?.is_none() {
            return Err(ScimError::NotFound(format!("group {id}")));
        }
        self.save_group(
            id,
            Self::body_object(body)?,
            false,
            format!("PUT /Groups/{id}"),
        )
    }

    pub fn patch_group(&self, id: &str, body: &Value) -> Result<Value> {
        let ops = patch::parse_request(body).map_err(ProviderError::from)?;
        let row = store(self.store.scim_group(id, true))?
            .ok_or_else(|| ScimError::NotFound(format!("group {id}")))?;
        let mut doc = row.doc.clone();
        let members: Vec<Value> = row
            .members
            .iter()
            .map(|(m, _)| serde_json::json!({ "value": m }))
            .collect();
        doc.insert("members".into(), Value::Array(members));
        patch::apply(Kind::Group, &mut doc, &ops).map_err(ProviderError::from)?;
        let n = ops.len();
        self.save_group(
            id,
            doc,
            false,
            format!("PATCH /Groups/{id} ({n} operation(s))"),
        )
    }

    pub fn delete_group(&self, id: &str) -> Result<()> {
        let planner = self.planner();
        let applied = store(self.store.scim_delete_group(id, &planner, Utc::now()))?
            .ok_or_else(|| ScimError::NotFound(format!("group {id}")))?;
        self.revoked(&applied);
        Ok(())
    }

    pub fn list_groups(
        &self,
        filter: Option<&str>,
        start: usize,
        count: usize,
        p: &Projection,
    ) -> Result<Value> {
        let (mut name, mut ext, mut gid) = (None, None, None);
        if let Some(f) = filter {
            for (attr, v) in eq_conjunction(&filter::parse(f).map_err(ProviderError::from)?)? {
                let slot = match attr.as_str() {
                    a if a.eq_ignore_ascii_case("displayName") => &mut name,
                    a if a.eq_ignore_ascii_case("externalId") => &mut ext,
                    a if a.eq_ignore_ascii_case("id") => &mut gid,
                    _ => return Err(unsupported_group_filter()),
                };
                if slot.as_ref().is_some_and(|s: &String| *s != v) {
                    return Ok(list(Vec::new(), 0, start));
                }
                *slot = Some(v);
            }
        }
        let members = p.wants_members();
        let (total, rows) = store(self.store.scim_find_groups(
            name.as_deref(),
            ext.as_deref(),
            gid.as_deref(),
            start - 1,
            count.min(MAX_RESULTS),
            members,
        ))?;
        Ok(list(
            rows.iter()
                .map(|g| self.group_json(g, p, members))
                .collect(),
            total,
            start,
        ))
    }

    /// Records a refused write in the provisioning report.
    pub fn record_refusal(&self, request: &str, err: &ScimError) {
        if let Err(e) = self
            .store
            .scim_record_refusal(request, &err.to_string(), Utc::now())
        {
            tracing::warn!(error = %e, "cannot record the refused SCIM request");
        }
    }
}

fn hex_of(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn unsupported_user_filter() -> ScimError {
    ScimError::InvalidFilter(
        "supported: eq and and on userName, externalId, id and emails[type eq \"work\"].value"
            .into(),
    )
}

fn unsupported_group_filter() -> ScimError {
    ScimError::InvalidFilter("supported: eq and and on displayName, externalId and id".into())
}

/// `a eq "x" and b eq "y"` as pairs of (attribute, string value); other filters are refused.
fn eq_conjunction(f: &Filter) -> Result<Vec<(String, String)>> {
    match f {
        Filter::And(a, b) => {
            let mut v = eq_conjunction(a)?;
            v.extend(eq_conjunction(b)?);
            Ok(v)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(s),
        } if path.urn.is_none() && path.filter.is_none() && path.sub.is_none() => {
            Ok(vec![(path.attr.clone(), s.clone())])
        }
        _ => Err(unsupported_user_filter()),
    }
}

fn user_conditions(f: &Filter) -> Result<Vec<(UserField, String)>> {
    match f {
        Filter::And(a, b) => {
            let mut v = user_conditions(a)?;
            v.extend(user_conditions(b)?);
            Ok(v)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(s),
        } => {
            let core = path
                .urn
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(resource::USER_SCHEMA));
            if !core {
                return Err(unsupported_user_filter());
            }
            let a = path.attr.as_str();
            let field = match (&path.filter, &path.sub) {
                (None, None) if a.eq_ignore_ascii_case("userName") => UserField::UserName,
                (None, None) if a.eq_ignore_ascii_case("externalId") => UserField::ExternalId,
                (None, None) if a.eq_ignore_ascii_case("id") => UserField::Id,
                (Some(inner), Some(sub))
                    if a.eq_ignore_ascii_case("emails")
                        && sub.eq_ignore_ascii_case("value")
                        && filter::eq_pairs(inner).is_some_and(|p| {
                            p.len() == 1
                                && p[0].0.eq_ignore_ascii_case("type")
                                && p[0]
                                    .1
                                    .as_str()
                                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
                        }) =>
                {
                    UserField::WorkEmail
                }
                _ => return Err(unsupported_user_filter()),
            };
            Ok(vec![(field, s.clone())])
        }
        _ => Err(unsupported_user_filter()),
    }
}
