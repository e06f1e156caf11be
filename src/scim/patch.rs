//! SCIM PATCH (RFC 7644 §3.5.2) as Microsoft Entra's provisioning service really sends it:
//! operation names in any case (`Replace`, `Add`, `Remove`); path-less `replace` / `add`
//! whose value object has plain, dotted (`name.givenName`), filtered
//! (`emails[type eq "work"].value`) and URN-qualified keys (the `aadOptscim062020`
//! behaviour) or whole extension objects; member removal both as `members[value eq "id"]` and,
//! in the default behaviour, as `path: members` with a value list. A filtered path that finds
//! nothing to change creates the element when the filter is a plain `eq` (Entra sets
//! `emails[type eq "work"].value` on users that have no work email yet).
//!
//! Works on the JSON document only; checking the result is [`super::resource`]'s job.

use serde_json::{Map, Value};

use super::filter::{self, eq_pairs, matches, AttrPath, FilterError};
use super::resource::{is_multi, is_read_only, Kind, PATCH_SCHEMA};

/// Most operations in one request.
pub const MAX_OPS: usize = 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error("{0}")]
    Syntax(String),
    #[error("bad path {path:?}: {source}")]
    Path {
        path: String,
        #[source]
        source: FilterError,
    },
    #[error("{0}")]
    UnknownSchema(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0} is read-only")]
    Mutability(String),
    #[error("{0}")]
    Value(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: Op,
    /// The path as written (for errors) and parsed.
    pub path: Option<(String, AttrPath)>,
    pub value: Option<Value>,
}

/// Reads a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    let o = body
        .as_object()
        .ok_or_else(|| PatchError::Syntax("the body must be a PatchOp object".into()))?;
    let schemas = filter::get_ci(o, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA))) {
        return Err(PatchError::Syntax(format!(
            "schemas must list {PATCH_SCHEMA}"
        )));
    }
    let ops = filter::get_ci(o, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| PatchError::Syntax("Operations must be a list".into()))?;
    if ops.is_empty() || ops.len() > MAX_OPS {
        return Err(PatchError::Syntax(format!(
            "Operations must hold 1 to {MAX_OPS} operations"
        )));
    }
    ops.iter().map(parse_op).collect()
}

fn parse_op(v: &Value) -> Result<PatchOp, PatchError> {
    let o = v
        .as_object()
        .ok_or_else(|| PatchError::Syntax("each operation must be an object".into()))?;
    let op = match filter::get_ci(o, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => Op::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => Op::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => Op::Remove,
        other => {
            return Err(PatchError::Syntax(format!(
                "op must be add, replace or remove, got {other:?}"
            )))
        }
    };
    let path = match filter::get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some((p.clone(), parse_path(p)?)),
        Some(_) => return Err(PatchError::Syntax("path must be a string".into())),
    };
    let value = filter::get_ci(o, "value").cloned();
    if op != Op::Remove && value.is_none() {
        return Err(PatchError::Syntax("add and replace need a value".into()));
    }
    Ok(PatchOp { op, path, value })
}

fn parse_path(p: &str) -> Result<AttrPath, PatchError> {
    filter::parse_path(p).map_err(|source| PatchError::Path {
        path: p.to_string(),
        source,
    })
}

/// Applies `ops` in order to `doc`. On error `doc` may be half-changed: callers work on a copy.
pub fn apply(kind: Kind, doc: &mut Map<String, Value>, ops: &[PatchOp]) -> Result<(), PatchError> {
    for op in ops {
        match &op.path {
            Some((raw, path)) => {
                // A path naming a whole extension schema: its value is that extension's object.
                if let Some(urn) = kind.schema(raw).filter(|u| *u != kind.core_schema()) {
                    let value = op.value.as_ref();
                    if op.op == Op::Remove {
                        remove_key(doc, urn);
                        continue;
                    }
                    path_less(kind, doc, op.op, &wrap(urn, value))?;
                    continue;
                }
                apply_one(kind, doc, op.op, path, op.value.as_ref())?;
            }
            None => {
                if op.op == Op::Remove {
                    return Err(PatchError::NoTarget("remove needs a path".into()));
                }
                let value = op.value.as_ref().unwrap_or(&Value::Null);
                path_less(kind, doc, op.op, value)?;
            }
        }
    }
    Ok(())
}

fn wrap(urn: &str, v: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert(urn.to_string(), v.cloned().unwrap_or(Value::Null));
    Value::Object(m)
}

fn path_less(
    kind: Kind,
    doc: &mut Map<String, Value>,
    op: Op,
    value: &Value,
) -> Result<(), PatchError> {
    let Value::Object(obj) = value else {
        return Err(PatchError::Value(
            "an operation without a path needs an object value".into(),
        ));
    };
    for (k, v) in obj {
        match kind.schema(k) {
            Some(urn) if urn == kind.core_schema() => path_less(kind, doc, op, v)?,
            Some(urn) => {
                let Value::Object(inner) = v else {
                    return Err(PatchError::Value(format!("{urn} must be an object")));
                };
                for (ik, iv) in inner {
                    let mut p = parse_path(ik)?;
                    p.urn = Some(urn.to_string());
                    apply_one(kind, doc, op, &p, Some(iv))?;
                }
            }
            None => {
                let p = parse_path(k)?;
                apply_one(kind, doc, op, &p, Some(v))?;
            }
        }
    }
    Ok(())
}

fn key_of(m: &Map<String, Value>, name: &str) -> String {
    m.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn remove_key(m: &mut Map<String, Value>, name: &str) {
    let k = key_of(m, name);
    m.remove(&k);
}

/// The object an attribute path lives in: the document or an extension's object.
fn container<'a>(
    kind: Kind,
    doc: &'a mut Map<String, Value>,
    path: &AttrPath,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, PatchError> {
    let Some(urn) = &path.urn else {
        return Ok(Some(doc));
    };
    let schema = kind
        .schema(urn)
        .ok_or_else(|| PatchError::UnknownSchema(format!("unknown schema {urn}")))?;
    if schema == kind.core_schema() {
        return Ok(Some(doc));
    }
    let k = key_of(doc, schema);
    if !doc.contains_key(&k) {
        if !create {
            return Ok(None);
        }
        doc.insert(k.clone(), Value::Object(Map::new()));
    }
    match doc.get_mut(&k) {
        Some(Value::Object(o)) => Ok(Some(o)),
        _ => Err(PatchError::Value(format!("{schema} must be an object"))),
    }
}

fn same_member(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn merge(target: &mut Value, v: &Value) {
    match (target, v) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, val) in v {
                let key = key_of(t, k);
                t.insert(key, val.clone());
            }
        }
        (t, v) => *t = v.clone(),
    }
}

fn apply_one(
    kind: Kind,
    doc: &mut Map<String, Value>,
    op: Op,
    path: &AttrPath,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    if path.urn.is_none() && is_read_only(kind, &path.attr)
        || path.attr.eq_ignore_ascii_case("schemas")
    {
        return Err(PatchError::Mutability(path.attr.clone()));
    }
    let Some(c) = container(kind, doc, path, op != Op::Remove)? else {
        return Ok(());
    };
    let key = key_of(c, &path.attr);
    let multi = is_multi(&path.attr);
    if let Some(f) = &path.filter {
        if !multi {
            return Err(PatchError::Path {
                path: path.attr.clone(),
                source: FilterError::BadAttribute(format!(
                    "{} is not multi-valued: it takes no [filter]",
                    path.attr
                )),
            });
        }
        return filtered(c, &key, op, f, path.sub.as_deref(), value);
    }
    match (op, &path.sub) {
        (Op::Remove, None) => {
            match (value, c.get_mut(&key)) {
                // Entra's default behaviour: `remove members` with the members to remove.
                (Some(Value::Array(gone)), Some(Value::Array(items))) if multi => {
                    items.retain(|i| !gone.iter().any(|g| same_member(i, g)));
                }
                _ => {
                    c.remove(&key);
                }
            }
            Ok(())
        }
        (Op::Remove, Some(sub)) => {
            match c.get_mut(&key) {
                Some(Value::Object(o)) => remove_key(o, sub),
                Some(Value::Array(items)) => {
                    for i in items.iter_mut().filter_map(Value::as_object_mut) {
                        remove_key(i, sub);
                    }
                }
                _ => {}
            }
            Ok(())
        }
        (_, None) => {
            let value = value.cloned().unwrap_or(Value::Null);
            if multi {
                let incoming = match value {
                    Value::Array(a) => a,
                    Value::Null => Vec::new(),
                    v => vec![v],
                };
                if op == Op::Replace {
                    c.insert(key, Value::Array(incoming));
                    return Ok(());
                }
                let entry = c.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if !entry.is_array() {
                    *entry = Value::Array(Vec::new());
                }
                if let Value::Array(items) = entry {
                    for v in incoming {
                        if !items.iter().any(|i| same_member(i, &v)) {
                            items.push(v);
                        }
                    }
                }
                return Ok(());
            }
            match c.get_mut(&key) {
                Some(existing) if existing.is_object() && value.is_object() => {
                    merge(existing, &value)
                }
                _ => {
                    c.insert(key, value);
                }
            }
            Ok(())
        }
        (_, Some(sub)) => {
            let value = value.cloned().unwrap_or(Value::Null);
            let entry = c.entry(key).or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(o) => {
                    let k = key_of(o, sub);
                    o.insert(k, value);
                    Ok(())
                }
                Value::Array(items) => {
                    for i in items.iter_mut().filter_map(Value::as_object_mut) {
                        let k = key_of(i, sub);
                        i.insert(k, value.clone());
                    }
                    Ok(())
                }
                other => {
                    *other = Value::Object(Map::from_iter([(sub.clone(), value)]));
                    Ok(())
                }
            }
        }
    }
}

fn filtered(
    c: &mut Map<String, Value>,
    key: &str,
    op: Op,
    f: &filter::Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let items = match c.get_mut(key) {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(PatchError::Value(format!("{key} must be a list"))),
        None => {
            if op == Op::Remove {
                return Ok(());
            }
            c.insert(key.to_string(), Value::Array(Vec::new()));
            match c.get_mut(key) {
                Some(Value::Array(items)) => items,
                _ => return Err(PatchError::Value(format!("{key} must be a list"))),
            }
        }
    };
    let hits: Vec<usize> = (0..items.len())
        .filter(|&i| matches(f, &items[i]))
        .collect();
    match (op, sub) {
        (Op::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !hits.contains(&i);
                i += 1;
                keep
            });
        }
        (Op::Remove, Some(sub)) => {
            for &i in &hits {
                if let Some(o) = items[i].as_object_mut() {
                    remove_key(o, sub);
                }
            }
        }
        (_, sub) => {
            let value = value.cloned().unwrap_or(Value::Null);
            if hits.is_empty() {
                let pairs = eq_pairs(f).ok_or_else(|| {
                    PatchError::NoTarget(format!("no {key} element matches the filter"))
                })?;
                let mut element = Map::new();
                for (k, v) in pairs {
                    element.insert(k, v);
                }
                match (sub, value) {
                    (Some(s), v) => {
                        element.insert(s.to_string(), v);
                    }
                    (None, Value::Object(o)) => {
                        for (k, v) in o {
                            element.insert(k, v);
                        }
                    }
                    (None, _) => {
                        return Err(PatchError::Value(format!(
                            "{key}[...] takes an object value"
                        )))
                    }
                }
                items.push(Value::Object(element));
                return Ok(());
            }
            for &i in &hits {
                match sub {
                    Some(s) => match items[i].as_object_mut() {
                        Some(o) => {
                            let k = key_of(o, s);
                            o.insert(k, value.clone());
                        }
                        None => items[i] = value.clone(),
                    },
                    None if op == Op::Add => merge(&mut items[i], &value),
                    None => items[i] = value.clone(),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::ENTERPRISE_SCHEMA;
    use serde_json::json;

    fn run(doc: Value, body: Value) -> Result<Value, PatchError> {
        let mut d = doc.as_object().cloned().unwrap();
        apply(Kind::User, &mut d, &parse_request(&body)?)?;
        Ok(Value::Object(d))
    }

    fn req(ops: Value) -> Value {
        json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
    }

    #[test]
    fn entra_default_and_aadoptscim062020() {
        let doc = json!({"userName": "adele", "active": true,
            "emails": [{"type": "work", "value": "old@contoso.com", "primary": true}]});
        let out = run(
            doc.clone(),
            req(json!([{"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@contoso.com"}])),
        )
        .unwrap();
        assert_eq!(
            out["active"], "False",
            "coercion is the resource layer's job"
        );
        assert_eq!(out["emails"][0]["value"], "new@contoso.com");
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);

        let out = run(
            doc,
            req(json!([{"op": "replace", "value": {
                "displayName": "Adele V",
                "name.givenName": "Adele",
                "emails[type eq \"work\"].value": "adele@contoso.com",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
                ENTERPRISE_SCHEMA: {"employeeNumber": "42"}
            }}])),
        )
        .unwrap();
        assert_eq!(out["name"]["givenName"], "Adele");
        assert_eq!(out["displayName"], "Adele V");
        assert_eq!(out["emails"][0]["value"], "adele@contoso.com");
        assert_eq!(out[ENTERPRISE_SCHEMA]["department"], "Sales");
        assert_eq!(out[ENTERPRISE_SCHEMA]["employeeNumber"], "42");
    }

    #[test]
    fn members_both_ways() {
        let mut g = json!({"displayName": "Kiosk", "members": []})
            .as_object()
            .cloned()
            .unwrap();
        let add = parse_request(&req(json!([{"op": "Add", "path": "members",
            "value": [{"value": "u1"}, {"value": "u2"}, {"value": "u1"}]}])))
        .unwrap();
        apply(Kind::Group, &mut g, &add).unwrap();
        assert_eq!(g["members"].as_array().unwrap().len(), 2);
        let rm = parse_request(&req(
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
        ))
        .unwrap();
        apply(Kind::Group, &mut g, &rm).unwrap();
        assert_eq!(g["members"], json!([{"value": "u2"}]));
        let rm = parse_request(&req(json!([{"op": "Remove", "path": "members",
            "value": [{"value": "u2"}]}])))
        .unwrap();
        apply(Kind::Group, &mut g, &rm).unwrap();
        assert_eq!(g["members"], json!([]));
    }

    #[test]
    fn refusals() {
        let doc = json!({"userName": "a"});
        assert!(matches!(
            run(
                doc.clone(),
                req(json!([{"op": "replace", "path": "id", "value": "x"}]))
            ),
            Err(PatchError::Mutability(_))
        ));
        assert!(matches!(
            run(doc.clone(), req(json!([{"op": "remove"}]))),
            Err(PatchError::NoTarget(_))
        ));
        assert!(matches!(
            run(
                doc.clone(),
                req(json!([{"op": "move", "path": "a", "value": 1}]))
            ),
            Err(PatchError::Syntax(_))
        ));
        assert!(matches!(
            run(
                doc.clone(),
                req(json!([{"op": "add", "path": "userName[", "value": 1}]))
            ),
            Err(PatchError::Path { .. })
        ));
        assert!(matches!(
            run(doc.clone(), json!({"Operations": []})),
            Err(PatchError::Syntax(_))
        ));
        assert!(matches!(
            run(
                doc,
                req(json!([{"op": "add", "path": "urn:x:y:attr", "value": 1}]))
            ),
            Err(PatchError::UnknownSchema(_))
        ));
    }
}
