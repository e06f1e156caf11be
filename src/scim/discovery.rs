//! The discovery documents (RFC 7644 §4, RFC 7643 §5-7): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas` for the core User and Group, the enterprise User extension
//! and the panel's own extension (`cardNumbers`, write-only and never returned; `loginMethod`).
//! What they announce is what the endpoint does: PATCH yes, bulk, sort, ETags and password
//! change no, filters up to [`MAX_RESULTS`] results a page.

use serde_json::{json, Value};

use super::resource::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, KIOSK_SCHEMA, LIST_SCHEMA, USER_SCHEMA};

/// Largest page a listing returns.
pub const MAX_RESULTS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no schema {0}")]
    UnknownSchema(String),
    #[error("no resource type {0}")]
    UnknownResourceType(String),
}

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/mfp-kiosk/mfp-kiosk#scim-provisioning-from-microsoft-entra",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The secret token printed by `mfp-kiosk scim token`",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

fn resource_type(base: &str, name: &str, endpoint: &str, schema: &str, ext: &[&str]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name,
        "name": name,
        "endpoint": format!("/{endpoint}"),
        "description": name,
        "schema": schema,
        "schemaExtensions": ext.iter().map(|e| json!({"schema": e, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        resource_type(
            base,
            "User",
            "Users",
            USER_SCHEMA,
            &[ENTERPRISE_SCHEMA, KIOSK_SCHEMA],
        ),
        resource_type(base, "Group", "Groups", GROUP_SCHEMA, &[]),
    ]
}

pub fn resource_type_by_name(base: &str, name: &str) -> Result<Value, DiscoveryError> {
    resource_types(base)
        .into_iter()
        .find(|r| {
            r["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| DiscoveryError::UnknownResourceType(name.to_string()))
}

/// One attribute definition; `sub` for complex ones.
#[derive(Clone, Copy)]
struct A {
    name: &'static str,
    ty: &'static str,
    multi: bool,
    required: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    case_exact: bool,
}

const fn s(name: &'static str) -> A {
    A {
        name,
        ty: "string",
        multi: false,
        required: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        case_exact: false,
    }
}

fn def(a: A, sub: &[A]) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty,
        "multiValued": a.multi,
        "description": a.name,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability,
        "returned": a.returned,
        "uniqueness": a.uniqueness,
    });
    if !sub.is_empty() {
        v["subAttributes"] = Value::Array(sub.iter().map(|a| def(*a, &[])).collect());
    }
    v
}

fn multi_complex(name: &'static str) -> A {
    A {
        ty: "complex",
        multi: true,
        ..s(name)
    }
}

fn typed_value() -> Vec<A> {
    vec![
        s("value"),
        s("display"),
        s("type"),
        A {
            ty: "boolean",
            ..s("primary")
        },
    ]
}

fn schema_doc(base: &str, id: &str, name: &str, attributes: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": name,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    let id = A {
        mutability: "readOnly",
        returned: "always",
        uniqueness: "server",
        case_exact: true,
        ..s("id")
    };
    let user = vec![
        def(id, &[]),
        def(
            A {
                case_exact: true,
                ..s("externalId")
            },
            &[],
        ),
        def(
            A {
                required: true,
                uniqueness: "server",
                ..s("userName")
            },
            &[],
        ),
        def(
            A {
                ty: "complex",
                ..s("name")
            },
            &[
                s("formatted"),
                s("familyName"),
                s("givenName"),
                s("middleName"),
                s("honorificPrefix"),
                s("honorificSuffix"),
            ],
        ),
        def(s("displayName"), &[]),
        def(s("nickName"), &[]),
        def(s("title"), &[]),
        def(s("userType"), &[]),
        def(s("preferredLanguage"), &[]),
        def(s("locale"), &[]),
        def(s("timezone"), &[]),
        def(
            A {
                ty: "boolean",
                ..s("active")
            },
            &[],
        ),
        def(multi_complex("emails"), &typed_value()),
        def(multi_complex("phoneNumbers"), &typed_value()),
        def(
            multi_complex("addresses"),
            &[
                s("formatted"),
                s("streetAddress"),
                s("locality"),
                s("region"),
                s("postalCode"),
                s("country"),
                s("type"),
            ],
        ),
        def(
            A {
                mutability: "readOnly",
                ..multi_complex("groups")
            },
            &[s("value"), s("display")],
        ),
        def(multi_complex("roles"), &typed_value()),
    ];
    let group = vec![
        def(id, &[]),
        def(
            A {
                case_exact: true,
                ..s("externalId")
            },
            &[],
        ),
        def(
            A {
                required: true,
                uniqueness: "server",
                ..s("displayName")
            },
            &[],
        ),
        def(
            multi_complex("members"),
            &[
                A {
                    mutability: "immutable",
                    case_exact: true,
                    ..s("value")
                },
                A {
                    mutability: "readOnly",
                    ..s("display")
                },
                A {
                    mutability: "immutable",
                    ..s("type")
                },
            ],
        ),
    ];
    let enterprise = vec![
        def(s("employeeNumber"), &[]),
        def(s("costCenter"), &[]),
        def(s("organization"), &[]),
        def(s("division"), &[]),
        def(s("department"), &[]),
        def(
            A {
                ty: "complex",
                ..s("manager")
            },
            &[s("value"), s("displayName")],
        ),
    ];
    let kiosk = vec![
        def(
            A {
                multi: true,
                mutability: "writeOnly",
                returned: "never",
                case_exact: true,
                ..s("cardNumbers")
            },
            &[],
        ),
        {
            // Fixed once the panel user exists (SCIM "immutable": set at creation or by a PUT
            // that repeats it; a different value is 400 mutability).
            let mut v = def(
                A {
                    mutability: "immutable",
                    ..s("loginMethod")
                },
                &[],
            );
            v["canonicalValues"] = json!(["entra", "local"]);
            v
        },
    ];
    vec![
        schema_doc(base, USER_SCHEMA, "User", user),
        schema_doc(base, GROUP_SCHEMA, "Group", group),
        schema_doc(base, ENTERPRISE_SCHEMA, "EnterpriseUser", enterprise),
        schema_doc(base, KIOSK_SCHEMA, "MfpKioskUser", kiosk),
    ]
}

pub fn schema_by_id(base: &str, id: &str) -> Result<Value, DiscoveryError> {
    schemas(base)
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
        .ok_or_else(|| DiscoveryError::UnknownSchema(id.to_string()))
}

/// A ListResponse of `resources` out of `total`, from 1-based `start`.
pub fn list(resources: Vec<Value>, total: usize, start: usize) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
