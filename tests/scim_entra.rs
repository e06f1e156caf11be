//! Replays of the request sequences Microsoft Entra's provisioning service sends to a SCIM
//! app (test connection, create, get, disable with the string "False", capitalised ops,
//! path-less replace, groups and their members, delete), over real HTTP into a real SQLite
//! store; each step checks the status, the body and what the panel does with it: a badge
//! that signs in, and is refused after deactivation.
#![cfg(feature = "demo")]

mod scim_support;

use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::kiosk::{AuthMethod, Event};
use mfp_kiosk::store::{CardSource, ProvisioningQuery};
use reqwest::Method;
use scim_support::*;
use serde_json::json;

const ADELE: &str = "a1b2c3d4-0000-4000-8000-00000000ad01";
const MEGAN: &str = "a1b2c3d4-0000-4000-8000-00000000ad02";

fn signed_in(e: &Event) -> bool {
    matches!(e, Event::AuthSucceeded { .. })
}

#[tokio::test]
async fn test_connection_queries_a_random_guid_and_gets_an_empty_list() {
    let s = scim().await;
    let guid = uuid::Uuid::new_v4();
    let (status, v) = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!("userName eq \"{guid}\""))
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );
    let (status, _) = s
        .call_as(Some("not-the-token"), Method::GET, "/Users", None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn create_get_then_disable_with_the_string_false_refuses_the_badge() {
    let s = scim().await;
    let (reader, hex) = badge(4_410_042);
    // Entra first looks the user up, then creates it.
    let (_, found) = s
        .get(&format!("/Users?filter={}", q("userName eq \"adele\"")))
        .await;
    assert_eq!(found["totalResults"], 0);
    let (status, created) = s
        .post("/Users", &entra_user("adele", ADELE, Some(&hex)))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["userName"], "adele", "stored exactly as sent");
    assert_eq!(created["externalId"], ADELE);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert!(created["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/Users/{id}")));
    assert!(
        !created.to_string().contains(&hex),
        "cardNumbers are write-only: {created}"
    );
    assert!(created
        .get(KIOSK)
        .and_then(|k| k.get("cardNumbers"))
        .is_none());

    // The panel user exists before any visit: username by the configured rule and prefix,
    // the badge bound as a directory card, signed in at the first tap.
    let store = &s.k.services.store;
    let user = store.user_by_oid(ADELE).unwrap().unwrap();
    assert_eq!(user.username, "msp-adele");
    assert_eq!(user.upn, "adele@contoso.example");
    assert_eq!(user.status, UserStatus::Active);
    let cards = store.cards_for_user(ADELE).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].source, CardSource::Directory);
    match s.tap(&reader).await {
        Event::AuthSucceeded { user, .. } => assert_eq!(user.upn, "adele@contoso.example"),
        other => panic!("{other:?}"),
    }

    let (status, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["userName"], "adele");
    assert_eq!(got[ENTERPRISE]["department"], "Retail");
    let (_, by_ext) = s
        .get(&format!(
            "/Users?filter={}",
            q(&format!("externalId eq \"{ADELE}\""))
        ))
        .await;
    assert_eq!(by_ext["totalResults"], 1);
    assert_eq!(by_ext["Resources"][0]["id"], id.as_str());

    // Unassigned in Entra: the default behaviour sends the string "False" with "Replace".
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["active"], false);
    let user = store.user_by_oid(ADELE).unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Revoked);
    assert!(store.cards_for_user(ADELE).unwrap().is_empty());
    let tapped = s.tap(&reader).await;
    assert!(
        !signed_in(&tapped),
        "badge refused after deactivation: {tapped:?}"
    );
    assert!(matches!(tapped, Event::CardUnknown { .. }), "{tapped:?}");
    assert_eq!(s.revoked.lock().unwrap().as_slice(), [ADELE.to_string()]);
    assert!(s.audit_by_scim().contains(&"user_revoked".to_string()));

    // Assigned again (a boolean this time): active, with the directory badge back.
    let (status, _) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(status, 200);
    assert!(signed_in(&s.tap(&reader).await));
    assert!(s.audit_by_scim().contains(&"user_reenabled".to_string()));

    // Every write request is in the provisioning report, as SCIM.
    let runs = store
        .provisioning_report(&ProvisioningQuery {
            limit: 50,
            ..Default::default()
        })
        .unwrap();
    let scim_runs: Vec<_> = runs.iter().filter(|(r, _)| r.kind == "scim").collect();
    assert_eq!(scim_runs.len(), 3, "POST and two PATCHes");
    assert!(scim_runs.iter().any(|(r, _)| r.counts.revoked == 1));
    assert!(scim_runs.iter().any(|(r, _)| r.counts.re_enabled == 1));
    assert!(scim_runs
        .iter()
        .all(|(r, _)| r.source == "scim" && r.outcome == "ok"));
}

#[tokio::test]
async fn capitalised_ops_and_path_less_replace_change_the_panel_user() {
    let s = scim().await;
    let (old_reader, old_hex) = badge(4_410_100);
    let (new_reader, new_hex) = badge(4_410_200);
    let id = s.create(&entra_user("megan", MEGAN, Some(&old_hex))).await;
    // Default behaviour: "Add" on a filtered path and a single-valued one.
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "megan.b@contoso.example"},
                {"op": "Replace", "path": "displayName", "value": "Megan Bowen"},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["emails"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["emails"][0]["value"], "megan.b@contoso.example");
    let user = s.k.services.store.user_by_oid(MEGAN).unwrap().unwrap();
    assert_eq!(user.display_name, "Megan Bowen");
    assert_eq!(user.mail.as_deref(), Some("megan.b@contoso.example"));

    // aadOptscim062020: one path-less replace with dotted, filtered and URN keys.
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "value": {
                "name.givenName": "Meg",
                "displayName": "Meg Bowen",
                format!("{ENTERPRISE}:department"): "Sales",
                format!("{KIOSK}:cardNumbers"): [new_hex],
            }}])),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"]["givenName"], "Meg");
    assert_eq!(
        v["name"]["familyName"], "Vance",
        "other sub-attributes kept"
    );
    assert_eq!(v[ENTERPRISE]["department"], "Sales");
    assert!(!v.to_string().contains(&new_hex));
    let store = &s.k.services.store;
    assert_eq!(
        store.user_by_oid(MEGAN).unwrap().unwrap().display_name,
        "Meg Bowen"
    );
    assert_eq!(
        store.dir_attributes(MEGAN).unwrap().unwrap()["department"],
        "Sales"
    );
    assert!(
        !signed_in(&s.tap(&old_reader).await),
        "the replaced badge is gone"
    );
    assert!(signed_in(&s.tap(&new_reader).await));

    // A PATCH that leaves the cards alone keeps the badge (numbers are never stored).
    let (status, _) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Replace", "path": "title", "value": "Buyer"}])),
        )
        .await;
    assert_eq!(status, 200);
    assert!(signed_in(&s.tap(&new_reader).await));
}

#[tokio::test]
async fn groups_and_members_feed_roles_workflows_and_the_technician_flag() {
    let s = scim().await;
    let adele = s.create(&entra_user("adele", ADELE, None)).await;
    let megan = s.create(&entra_user("megan", MEGAN, None)).await;
    let filter = format!(
        "/Groups?filter={}&excludedAttributes=members",
        q("displayName eq \"Kiosk.Technician\"")
    );
    let (status, v) = s.get(&filter).await;
    assert_eq!((status, v["totalResults"].clone()), (200, json!(0)));
    let gid_ext = "f00dcafe-0000-4000-8000-000000000001";
    let (status, g) = s
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "externalId": gid_ext, "displayName": "Kiosk.Technician", "members": []}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    assert_eq!(g["members"], json!([]));

    let (status, v) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "Add", "path": "members",
                "value": [{"value": adele}, {"value": megan}]}])),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    let store = &s.k.services.store;
    let a = store.user_by_oid(ADELE).unwrap().unwrap();
    assert_eq!(a.roles, ["Kiosk.Technician"]);
    assert_eq!(a.groups, [gid_ext]);
    assert!(a.is_technician);
    let session = s.k.services.session_user(&a, AuthMethod::Card);
    assert!(session.is_technician);
    let restricted = &s.k.services.config.workflows[0].id;
    assert!(session.workflows.iter().any(|w| &w.id == restricted));

    // aadOptscim062020 removal, then the default behaviour's removal with a value list.
    let (status, _) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "remove", "path": format!("members[value eq \"{adele}\"]")}])),
        )
        .await;
    assert_eq!(status, 200);
    let a = store.user_by_oid(ADELE).unwrap().unwrap();
    assert!(a.roles.is_empty() && a.groups.is_empty() && !a.is_technician);
    let session = s.k.services.session_user(&a, AuthMethod::Card);
    assert!(!session.workflows.iter().any(|w| &w.id == restricted));
    assert!(store.user_by_oid(MEGAN).unwrap().unwrap().is_technician);
    let (status, _) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "Remove", "path": "members", "value": [{"value": megan}]}])),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!store.user_by_oid(MEGAN).unwrap().unwrap().is_technician);

    let (status, v) = s.get(&filter).await;
    assert_eq!(status, 200);
    assert_eq!(v["totalResults"], 1);
    assert!(v["Resources"][0].get("members").is_none(), "{v}");
    // A member that is not a provisioned user is refused, and nothing changes.
    let (status, v) = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch(json!([{"op": "add", "path": "members", "value": [{"value": "nobody"}]}])),
        )
        .await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (400, json!("invalidValue")),
        "{v}"
    );
    let (status, _) = s
        .call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn delete_revokes_the_user_and_the_id_is_gone() {
    let s = scim().await;
    let (reader, hex) = badge(4_410_300);
    let id = s.create(&entra_user("adele", ADELE, Some(&hex))).await;
    assert!(signed_in(&s.tap(&reader).await));
    let (status, v) = s.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!((status, v), (204, serde_json::Value::Null));
    let (status, v) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        v["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(v["status"], "404");
    let store = &s.k.services.store;
    assert_eq!(
        store.user_by_oid(ADELE).unwrap().unwrap().status,
        UserStatus::Revoked
    );
    assert!(!signed_in(&s.tap(&reader).await));
    let (status, _) = s.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, 404);
    // Provisioned again later: the same Entra object, active again.
    let again = s.create(&entra_user("adele", ADELE, Some(&hex))).await;
    assert_ne!(again, id);
    assert!(signed_in(&s.tap(&reader).await));
}

const GUEST: &str = "a1b2c3d4-0000-4000-8000-00000000ad03";

#[tokio::test]
async fn login_method_local_makes_a_local_account_that_signs_in_by_badge_offline() {
    use mfp_kiosk::admin::cards::Actor;
    use mfp_kiosk::admin::local_users::{CreateLocal, LocalUsers};
    use mfp_kiosk::identity::LoginMethod;

    let s = scim().await;
    let (reader, hex) = badge(4_410_500);
    let mut body = entra_user("guest", GUEST, Some(&hex));
    body[KIOSK]["loginMethod"] = json!("local");
    let id = s.create(&body).await;
    let store = &s.k.services.store;
    assert_eq!(store.login_method(GUEST).unwrap(), Some(LoginMethod::Local));
    let account = store.local_account(GUEST).unwrap().unwrap();
    assert_eq!(account.created_by, "scim");
    assert_eq!(account.expires_on, None);
    assert!(store
        .list_local_users()
        .unwrap()
        .iter()
        .any(|(u, _)| u.oid == GUEST));

    // The first tap opens a session that asks for a new PIN, as for an account made with
    // `mfp-kiosk local-users add`; the two see the same workflows.
    let services = &s.k.services;
    let admin = LocalUsers::new(
        store,
        &services.config,
        services.pin_hasher(),
        services.now(),
    );
    let made = admin
        .create(
            &Actor::Cli,
            &CreateLocal {
                display_name: "Made Here".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let scim_session = match s.tap(&reader).await {
        Event::AuthSucceeded { user, .. } => user,
        other => panic!("{other:?}"),
    };
    assert!(scim_session.must_set_pin, "{scim_session:?}");
    assert_eq!(scim_session.oid, GUEST);
    let made_session = services.session_user(&made, AuthMethod::Card);
    assert_eq!(scim_session.workflows, made_session.workflows);
    // With a PIN set (service menu or CLI), the badge signs in without asking for one.
    admin
        .set_pin(&Actor::Cli, GUEST, &secrecy::SecretString::from("482916"))
        .unwrap();
    match s.tap(&reader).await {
        Event::AuthSucceeded { user, .. } => assert!(!user.must_set_pin),
        Event::NeedPin { oid, .. } => assert_eq!(oid, GUEST),
        other => panic!("{other:?}"),
    }

    // The login method is fixed once the panel user exists: 400 mutability, nothing changes.
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Replace", "path": format!("{KIOSK}:loginMethod"), "value": "entra"}])),
        )
        .await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (400, json!("mutability")),
        "{v}"
    );
    assert_eq!(store.login_method(GUEST).unwrap(), Some(LoginMethod::Local));
    let (_, got) = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got[KIOSK]["loginMethod"], "local");
    // Repeating it (a PUT of the whole resource) is no change.
    let (status, v) = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(&body))
        .await;
    assert_eq!(status, 200, "{v}");
    // And an Entra user is never turned into a local one.
    let adele = s.create(&entra_user("adele", ADELE, None)).await;
    let (status, v) = s
        .patch(
            &format!("/Users/{adele}"),
            &patch(json!([{"op": "replace", "value": {format!("{KIOSK}:loginMethod"): "local"}}])),
        )
        .await;
    assert_eq!(
        (status, v["scimType"].clone()),
        (400, json!("mutability")),
        "{v}"
    );
    assert_eq!(store.login_method(ADELE).unwrap(), Some(LoginMethod::Entra));
    assert!(store.local_account(ADELE).unwrap().is_none());

    // Deactivated like anyone else: the badge is refused.
    let (status, _) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!signed_in(&s.tap(&reader).await));
}

#[tokio::test]
async fn every_card_number_binds_and_a_replaced_list_drops_the_missing_ones() {
    let s = scim().await;
    let (a_reader, a) = badge(4_410_601);
    let (b_reader, b) = badge(4_410_602);
    let (c_reader, c) = badge(4_410_603);
    let (m_reader, m) = badge(4_410_604);
    let mut body = entra_user("adele", ADELE, None);
    // The same badge twice, spelt differently: one badge.
    body[KIOSK] = json!({"cardNumbers": [a, b, a.to_uppercase()]});
    let id = s.create(&body).await;
    let store = &s.k.services.store;
    let cards = store.cards_for_user(ADELE).unwrap();
    assert_eq!(cards.len(), 2);
    assert!(cards.iter().all(|c| c.source == CardSource::Directory));
    assert!(signed_in(&s.tap(&a_reader).await));
    assert!(signed_in(&s.tap(&b_reader).await));

    // A group change re-plans the user: every badge stays.
    let (status, g) = s
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Staff", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(store.cards_for_user(ADELE).unwrap().len(), 2);

    // PUT with [b, c]: a goes, c comes, b stays.
    body[KIOSK] = json!({"cardNumbers": [b, c]});
    let (status, v) = s
        .call(Method::PUT, &format!("/Users/{id}"), Some(&body))
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(!signed_in(&s.tap(&a_reader).await));
    assert!(signed_in(&s.tap(&b_reader).await));
    assert!(signed_in(&s.tap(&c_reader).await));
    assert_eq!(store.cards_for_user(ADELE).unwrap().len(), 2);

    // A number another user holds is a conflict in the report; the others still bind.
    s.create(&{
        let mut v = entra_user("megan", MEGAN, None);
        v[KIOSK] = json!({"cardNumbers": [m]});
        v
    })
    .await;
    let (status, v) = s
        .patch(
            &format!("/Users/{id}"),
            &patch(json!([{"op": "replace", "value": {format!("{KIOSK}:cardNumbers"): [c, m]}}])),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(!signed_in(&s.tap(&b_reader).await), "b was dropped");
    assert!(signed_in(&s.tap(&c_reader).await));
    match s.tap(&m_reader).await {
        Event::AuthSucceeded { user, .. } => assert_eq!(user.oid, MEGAN, "not moved"),
        other => panic!("{other:?}"),
    }
    let runs = store
        .provisioning_report(&ProvisioningQuery {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    let (_, changes) = &runs[0];
    assert!(
        changes
            .iter()
            .any(|ch| ch.change == "conflict" && ch.detail.contains("megan")),
        "{changes:?}"
    );
    assert!(changes.iter().any(|ch| ch.change == "card_removed"));
}
