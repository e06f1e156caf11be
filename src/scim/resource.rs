//! SCIM resources as the panel keeps and returns them: the schema URNs, which attributes are
//! multi-valued, read-only or write-only, the checks a User or Group document must pass
//! (RFC 7643 §4), its serialisation with `id`, `schemas` and `meta`, and the
//! `attributes` / `excludedAttributes` projection (RFC 7644 §3.4.2.5). Values are kept exactly
//! as sent; only `active` is read as a boolean when it comes as `"True"` / `"False"`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::filter::get_ci;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const KIOSK_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:mfpkiosk:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Longest userName / displayName accepted.
const MAX_NAME: usize = 256;
/// Most card numbers one user may carry.
pub const MAX_CARDS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{attr}: {reason}")]
    Invalid { attr: &'static str, reason: String },
    #[error("{0} is read-only")]
    ReadOnly(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn core_schema(self) -> &'static str {
        match self {
            Kind::User => USER_SCHEMA,
            Kind::Group => GROUP_SCHEMA,
        }
    }

    /// Extension schemas whose attributes live under their URN key.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[ENTERPRISE_SCHEMA, KIOSK_SCHEMA],
            Kind::Group => &[],
        }
    }

    /// The canonical spelling of a schema URN this resource knows (`None`: unknown).
    pub fn schema(self, urn: &str) -> Option<&'static str> {
        std::iter::once(self.core_schema())
            .chain(self.extensions().iter().copied())
            .find(|s| s.eq_ignore_ascii_case(urn))
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }
}

/// Multi-valued attributes (PATCH `add` appends to them).
pub fn is_multi(attr: &str) -> bool {
    [
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
        "members",
        "cardNumbers",
        "schemas",
    ]
    .iter()
    .any(|a| a.eq_ignore_ascii_case(attr))
}

/// Attributes a client may not set (RFC 7643 `mutability: readOnly`).
pub fn is_read_only(kind: Kind, attr: &str) -> bool {
    attr.eq_ignore_ascii_case("id")
        || attr.eq_ignore_ascii_case("meta")
        || (kind == Kind::User && attr.eq_ignore_ascii_case("groups"))
}

/// The fields the panel uses, read from a checked User document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserFacts {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub display_name: Option<String>,
    pub work_email: Option<String>,
    /// Card numbers as sent (write-only: hashed before anything is stored).
    pub card_numbers: Vec<String>,
    pub login_method: Option<String>,
}

fn string_attr(o: &Map<String, Value>, key: &'static str) -> Result<Option<String>, ResourceError> {
    match get_ci(o, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ResourceError::Invalid {
            attr: key,
            reason: "must be a string".into(),
        }),
    }
}

/// Removes read-only attributes a client sent (ignored on POST and PUT, RFC 7644 §3.3) and
/// reads `active` strings as booleans.
pub fn normalise(kind: Kind, doc: &mut Map<String, Value>) {
    doc.retain(|k, _| !is_read_only(kind, k));
    if let Some((k, Value::String(s))) = doc
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("active"))
        .map(|(k, v)| (k.clone(), v.clone()))
    {
        {
            if s.eq_ignore_ascii_case("true") {
                doc.insert(k, Value::Bool(true));
            } else if s.eq_ignore_ascii_case("false") {
                doc.insert(k, Value::Bool(false));
            }
        }
    }
}

/// Checks a User document and reads the panel's facts out of it.
pub fn user_facts(doc: &Map<String, Value>) -> Result<UserFacts, ResourceError> {
    let user_name = string_attr(doc, "userName")?
        .filter(|s| !s.trim().is_empty())
        .ok_or(ResourceError::Missing("userName"))?;
    if user_name.chars().count() > MAX_NAME || user_name.chars().any(char::is_control) {
        return Err(ResourceError::Invalid {
            attr: "userName",
            reason: format!("must be 1 to {MAX_NAME} printable characters"),
        });
    }
    let active = match get_ci(doc, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ResourceError::Invalid {
                attr: "active",
                reason: "must be true or false".into(),
            })
        }
    };
    let display_name = string_attr(doc, "displayName")?;
    let external_id = string_attr(doc, "externalId")?;
    if get_ci(doc, "name").is_some_and(|v| !v.is_object() && !v.is_null()) {
        return Err(ResourceError::Invalid {
            attr: "name",
            reason: "must be an object".into(),
        });
    }
    let mut work_email = None;
    match get_ci(doc, "emails") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let mut first = None;
            for e in items {
                let Some(o) = e.as_object() else {
                    return Err(ResourceError::Invalid {
                        attr: "emails",
                        reason: "each email must be an object with a value".into(),
                    });
                };
                let value = string_attr(o, "value")?;
                let ty = string_attr(o, "type")?;
                let primary = get_ci(o, "primary")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if first.is_none() || primary {
                    first = value.clone();
                }
                if ty.is_some_and(|t| t.eq_ignore_ascii_case("work")) && work_email.is_none() {
                    work_email = value;
                }
            }
            work_email = work_email.or(first);
        }
        Some(_) => {
            return Err(ResourceError::Invalid {
                attr: "emails",
                reason: "must be a list".into(),
            })
        }
    }
    let mut facts = UserFacts {
        user_name,
        external_id,
        active,
        display_name,
        work_email,
        ..Default::default()
    };
    if let Some(ext) = get_ci(doc, KIOSK_SCHEMA) {
        let Some(ext) = ext.as_object() else {
            return Err(ResourceError::Invalid {
                attr: "urn:ietf:params:scim:schemas:extension:mfpkiosk:2.0:User",
                reason: "must be an object".into(),
            });
        };
        match get_ci(ext, "cardNumbers") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for i in items {
                    // Entra sends a multi-valued string as ["n"] or, in PATCH, [{"value": "n"}].
                    let n = match i {
                        Value::String(s) => Some(s.clone()),
                        Value::Object(o) => string_attr(o, "value")?,
                        _ => None,
                    };
                    match n {
                        Some(n) => facts.card_numbers.push(n),
                        None => {
                            return Err(ResourceError::Invalid {
                                attr: "cardNumbers",
                                reason: "must be a list of strings".into(),
                            })
                        }
                    }
                }
            }
            Some(Value::String(s)) => facts.card_numbers.push(s.clone()),
            Some(_) => {
                return Err(ResourceError::Invalid {
                    attr: "cardNumbers",
                    reason: "must be a list of strings".into(),
                })
            }
        }
        if facts.card_numbers.len() > MAX_CARDS {
            return Err(ResourceError::Invalid {
                attr: "cardNumbers",
                reason: format!("at most {MAX_CARDS} per user"),
            });
        }
        facts.login_method = string_attr(ext, "loginMethod")?;
        if let Some(m) = &facts.login_method {
            if !["entra", "local"].iter().any(|x| x.eq_ignore_ascii_case(m)) {
                return Err(ResourceError::Invalid {
                    attr: "loginMethod",
                    reason: format!("must be \"entra\" or \"local\", got {m:?}"),
                });
            }
        }
    }
    Ok(facts)
}

/// Strips write-only attributes (card numbers, password) before a document is stored.
pub fn strip_write_only(doc: &mut Map<String, Value>) {
    doc.retain(|k, _| !k.eq_ignore_ascii_case("password"));
    if let Some(ext) = doc
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(KIOSK_SCHEMA))
        .and_then(|(_, v)| v.as_object_mut())
    {
        ext.retain(|k, _| !k.eq_ignore_ascii_case("cardNumbers"));
    }
}

/// Checks a Group document: its displayName and the member ids it lists.
pub fn group_facts(
    doc: &Map<String, Value>,
) -> Result<(String, Option<String>, Vec<String>), ResourceError> {
    let name = string_attr(doc, "displayName")?
        .filter(|s| !s.trim().is_empty())
        .ok_or(ResourceError::Missing("displayName"))?;
    if name.chars().count() > MAX_NAME {
        return Err(ResourceError::Invalid {
            attr: "displayName",
            reason: format!("at most {MAX_NAME} characters"),
        });
    }
    let external_id = string_attr(doc, "externalId")?;
    let mut members = Vec::new();
    match get_ci(doc, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for m in items {
                match m.as_object().map(|o| string_attr(o, "value")) {
                    Some(Ok(Some(v))) => members.push(v),
                    Some(Err(e)) => return Err(e),
                    _ => {
                        return Err(ResourceError::Invalid {
                            attr: "members",
                            reason: "each member must be an object with a value (the user id)"
                                .into(),
                        })
                    }
                }
            }
        }
        Some(_) => {
            return Err(ResourceError::Invalid {
                attr: "members",
                reason: "must be a list".into(),
            })
        }
    }
    Ok((name, external_id, members))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Metadata of a stored resource, for its representation.
pub struct Meta<'a> {
    pub kind: Kind,
    pub id: &'a str,
    pub base_url: &'a str,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub version: i64,
}

/// The representation of a stored document: `schemas` (core plus the extensions present),
/// `id`, `meta`, the attributes as sent.
pub fn render(doc: &Map<String, Value>, m: &Meta<'_>) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::from(m.kind.core_schema())];
    for ext in m.kind.extensions() {
        if get_ci(doc, ext).is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
            schemas.push(Value::from(*ext));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::from(m.id));
    for (k, v) in doc {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if v.as_object().is_some_and(|o| o.is_empty()) && m.kind.schema(k).is_some() {
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    let location = format!("{}/{}/{}", m.base_url, m.kind.endpoint(), m.id);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": match m.kind { Kind::User => "User", Kind::Group => "Group" },
            "created": time(m.created),
            "lastModified": time(m.modified),
            "location": location,
            "version": format!("W/\"{}\"", m.version),
        }),
    );
    Value::Object(out)
}

/// One `attributes` / `excludedAttributes` entry: (schema URN, attribute, sub-attribute).
fn parse_attr(kind: Kind, s: &str) -> (Option<&'static str>, String, Option<String>) {
    let s = s.trim();
    for urn in std::iter::once(kind.core_schema()).chain(kind.extensions().iter().copied()) {
        if s.len() > urn.len() + 1
            && s.get(..urn.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(urn))
            && s.as_bytes()[urn.len()] == b':'
        {
            let rest = &s[urn.len() + 1..];
            let (a, sub) = match rest.split_once('.') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (rest.to_string(), None),
            };
            let urn = (urn != kind.core_schema()).then_some(urn);
            return (urn, a, sub);
        }
    }
    match s.split_once('.') {
        Some((a, b)) => (None, a.to_string(), Some(b.to_string())),
        None => (None, s.to_string(), None),
    }
}

fn never_excluded(k: &str) -> bool {
    ["id", "schemas"].iter().any(|a| a.eq_ignore_ascii_case(k))
}

/// Applies `attributes` (only these, plus `id` and `schemas`) or `excludedAttributes`.
pub fn project(kind: Kind, v: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(mut o) = v else { return v };
    if !attributes.is_empty() {
        let wanted: Vec<_> = attributes.iter().map(|a| parse_attr(kind, a)).collect();
        let mut out = Map::new();
        for (k, val) in o {
            if never_excluded(&k) {
                out.insert(k, val);
                continue;
            }
            if let Some(urn) = kind.schema(&k).filter(|u| *u != kind.core_schema()) {
                let Value::Object(ext) = val else { continue };
                let kept: Map<String, Value> = ext
                    .into_iter()
                    .filter(|(ek, _)| {
                        wanted
                            .iter()
                            .any(|(u, a, _)| *u == Some(urn) && a.eq_ignore_ascii_case(ek))
                    })
                    .collect();
                if !kept.is_empty() {
                    out.insert(k, Value::Object(kept));
                }
                continue;
            }
            let subs: Vec<&String> = wanted
                .iter()
                .filter(|(u, a, _)| u.is_none() && a.eq_ignore_ascii_case(&k))
                .filter_map(|(_, _, s)| s.as_ref())
                .collect();
            let whole = wanted
                .iter()
                .any(|(u, a, s)| u.is_none() && a.eq_ignore_ascii_case(&k) && s.is_none());
            if whole {
                out.insert(k, val);
            } else if !subs.is_empty() {
                if let Value::Object(inner) = val {
                    let kept: Map<String, Value> = inner
                        .into_iter()
                        .filter(|(ik, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(ik)))
                        .collect();
                    out.insert(k, Value::Object(kept));
                }
            }
        }
        return Value::Object(out);
    }
    for (urn, a, sub) in excluded.iter().map(|a| parse_attr(kind, a)) {
        let target = match urn {
            Some(u) => match o
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(u))
                .and_then(|(_, v)| v.as_object_mut())
            {
                Some(ext) => ext,
                None => continue,
            },
            None => &mut o,
        };
        match sub {
            None => target.retain(|k, _| never_excluded(k) || !k.eq_ignore_ascii_case(&a)),
            Some(s) => {
                if let Some(Value::Object(inner)) = target
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&a))
                    .map(|(_, v)| v)
                {
                    inner.retain(|k, _| !k.eq_ignore_ascii_case(&s));
                }
            }
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_and_write_only_cards() {
        let mut doc = json!({
            "userName": "adele", "active": "False",
            "emails": [{"type": "home", "value": "a@home"}, {"type": "work", "value": "a@contoso.com"}],
            KIOSK_SCHEMA: {"cardNumbers": ["04A1B2"], "loginMethod": "entra"},
            "id": "client-chosen", "meta": {"x": 1},
        })
        .as_object()
        .cloned()
        .unwrap();
        normalise(Kind::User, &mut doc);
        assert!(doc.get("id").is_none() && doc.get("meta").is_none());
        let f = user_facts(&doc).unwrap();
        assert!(!f.active);
        assert_eq!(f.work_email.as_deref(), Some("a@contoso.com"));
        assert_eq!(f.card_numbers, ["04A1B2"]);
        strip_write_only(&mut doc);
        assert!(!Value::Object(doc).to_string().contains("04A1B2"));
        let bad = json!({"userName": "a", KIOSK_SCHEMA: {"loginMethod": "saml"}});
        assert!(user_facts(bad.as_object().unwrap()).is_err());
        assert_eq!(
            user_facts(&Map::new()),
            Err(ResourceError::Missing("userName"))
        );
    }

    #[test]
    fn projection() {
        let v = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "a",
            "name": {"givenName": "A", "familyName": "V"}, "emails": [], "meta": {}});
        let p = project(
            Kind::User,
            v.clone(),
            &["userName".into(), "name.givenName".into()],
            &[],
        );
        assert_eq!(
            p,
            json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "a", "name": {"givenName": "A"}})
        );
        let p = project(
            Kind::User,
            v,
            &[],
            &["emails".into(), "id".into(), "name.familyName".into()],
        );
        assert!(p.get("emails").is_none());
        assert_eq!(p["id"], "1");
        assert!(p["name"].get("familyName").is_none());
    }
}
