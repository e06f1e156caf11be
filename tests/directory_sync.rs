//! Directory sync (issue 10, parts 2-4) over real HTTP against the simulated Entra and Graph,
//! into a real SQLite store: the initial sync of a group (nested group expanded, badges kept
//! as hex in extensionAttribute3 and normalised by `directory.card_normalise`) lets a badge
//! sign in at the first tap; disable, delete, removal from the group and attribute changes
//! follow within one cycle; an expired delta link (410) resyncs in full without losing anyone;
//! a throttled Graph is waited out; replays change nothing; conflicts are reported.
#![cfg(feature = "demo")]

mod directory_support;

use std::time::Duration;

use directory_support::*;
use mfp_kiosk::admin::cards::Actor;
use mfp_kiosk::identity::UserStatus;
use mfp_kiosk::kiosk::Event;
use mfp_kiosk::store::{CardSource, ProvisioningQuery};
use secrecy::SecretString;

/// The issue lists 10,000; at that size this file took 80 s on the shared 2-core machine
/// (3,000: 10 s), so the scale lives in benches/directory_sync.rs (100,000 users).
const USERS: usize = 3_000;

#[tokio::test]
async fn initial_sync_then_a_directory_badge_signs_in_at_the_first_tap() {
    let k = tenant(USERS, USERS - 99, 250).await;
    let outsider = mfp_kiosk::sim::SimUser::new("outsider@contoso.example", "Not In Group");
    k.sim.add_user(outsider.clone());
    let dir = directory(&k);
    let r = run(&k, &dir).await.unwrap();
    let with_badge = (1..=USERS).filter(|i| i % 7 != 0).count() as u64;
    assert_eq!(r.counts.created, USERS as u64, "{:?}", r.counts);
    assert_eq!(r.counts.cards_added, with_badge);
    assert!(r.counts.full_resync);
    assert!(r.counts.pages > 8, "paged: {}", r.counts.pages);
    assert_eq!(r.counts.conflicts + r.counts.errors, 0);
    assert_eq!(
        k.sim.app_token_grants(),
        1,
        "the app token is cached across pages"
    );
    let store = &k.services.store;
    assert!(
        store.user_by_upn(&outsider.upn).unwrap().is_none(),
        "out of scope"
    );
    // Nested group member, provisioned with the department kept for workflows.
    let last = store.user_by_oid(&oid(USERS - 1)).unwrap().unwrap();
    assert_eq!(last.status, UserStatus::Active);
    assert_eq!(last.username, format!("msp-user{:05}", USERS - 1));
    let attrs = store.dir_attributes(&oid(USERS - 1)).unwrap().unwrap();
    assert_eq!(attrs["department"], "Finance");
    let cards = store.cards_for_user(&oid(3)).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].source, CardSource::Directory);
    assert!(store.refresh_token(&oid(3)).unwrap().is_none());

    // The reader's decimal number finds the directory's hex badge: signed in, no Microsoft
    // sign-in ever happened on this panel.
    match tap(&k, &badge(3).0).await {
        Event::AuthSucceeded { user, .. } => assert_eq!(user.upn, upn(3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.user_by_oid(&oid(3)).unwrap().unwrap().status,
        UserStatus::Active,
        "not sent to a Microsoft sign-in"
    );

    // A second run with nothing changed in the directory changes nothing.
    let again = run(&k, &dir).await.unwrap();
    assert!(!again.counts.full_resync);
    assert_eq!(
        (
            again.counts.created,
            again.counts.updated,
            again.counts.cards_added
        ),
        (0, 0, 0),
        "{:?}",
        again.counts
    );
    assert_eq!(
        store.last_provisioning_run().unwrap().unwrap().id,
        again.run_id
    );
}

#[tokio::test]
async fn directory_changes_follow_within_one_cycle() {
    let k = tenant(40, 31, 10).await;
    let dir = directory(&k);
    run(&k, &dir).await.unwrap();
    let store = &k.services.store;
    // User 5 also enrolls a badge on the panel; it must survive every sync.
    let five = store.user_by_oid(&oid(5)).unwrap().unwrap();
    k.services
        .cards()
        .enroll(&five, &SecretString::from("0099990005"), false, &Actor::Cli)
        .unwrap();
    k.services
        .save_pin(&oid(1), &SecretString::from("2580"))
        .unwrap();

    assert!(k.sim.set_account_enabled(&oid(1), false));
    assert!(k.sim.remove_user(&oid(2)));
    k.sim.remove_group_member(GROUP, &oid(3));
    k.sim.remove_group_member(NESTED, &oid(35));
    let (_, new_hex) = badge(9_005);
    assert!(k.sim.set_user_attribute(&oid(5), EXT3, new_hex.into()));
    assert!(k
        .sim
        .set_user_attribute(&oid(5), "displayName", "Renamed Five".into()));
    let r = run(&k, &dir).await.unwrap();
    assert_eq!(r.counts.revoked, 4, "{:?}", r.counts);
    assert_eq!(
        (
            r.counts.updated,
            r.counts.cards_added,
            r.counts.cards_removed
        ),
        (1, 1, 1)
    );
    for i in [1, 2, 3, 35] {
        let u = store.user_by_oid(&oid(i)).unwrap().unwrap();
        assert_eq!(u.status, UserStatus::Revoked, "user {i}");
        assert!(store.cards_for_user(&oid(i)).unwrap().is_empty());
    }
    assert!(r.revoked.contains(&oid(1)));
    let audited = store.recent_audit(50).unwrap();
    assert!(audited.iter().any(|e| e.action == "user_revoked"
        && e.actor == "directory"
        && e.subject.as_deref() == Some(oid(1).as_str())));

    // Revoked means refused even offline: the badge is simply unknown now.
    k.sim.set_network_down(true);
    assert!(matches!(
        tap(&k, &badge(1).0).await,
        Event::CardUnknown { .. }
    ));
    assert!(
        matches!(tap(&k, &badge(5).0).await, Event::CardUnknown { .. }),
        "old badge gone"
    );
    match tap(&k, &badge(9_005).0).await {
        Event::AuthSucceeded { user, .. } => assert_eq!(user.display_name, "Renamed Five"),
        other => panic!("{other:?}"),
    }
    k.sim.set_network_down(false);
    let sources: Vec<CardSource> = store
        .cards_for_user(&oid(5))
        .unwrap()
        .iter()
        .map(|c| c.source)
        .collect();
    assert_eq!(sources.len(), 2, "panel badge kept: {sources:?}");
    assert!(sources.contains(&CardSource::Panel));

    // Re-enabled: active again with the directory badge, but no PIN.
    assert!(k.sim.set_account_enabled(&oid(1), true));
    let r = run(&k, &dir).await.unwrap();
    assert_eq!(r.counts.re_enabled, 1, "{:?}", r.counts);
    let one = store.user_by_oid(&oid(1)).unwrap().unwrap();
    assert_eq!(one.status, UserStatus::Active);
    assert_eq!(store.cards_for_user(&oid(1)).unwrap().len(), 1);
    assert!(!k.services.has_pin(&oid(1)).unwrap());

    // The report says who changed and why; nothing secret in it.
    let report = store
        .provisioning_report(&ProvisioningQuery {
            user: Some(upn(1)),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let changes: Vec<String> = report
        .iter()
        .rev()
        .flat_map(|(_, c)| c.iter().map(|c| c.change.clone()))
        .collect();
    assert_eq!(
        changes,
        [
            "created",
            "card_added",
            "revoked",
            "re_enabled",
            "card_added"
        ]
    );
    let all = format!(
        "{:?}",
        store
            .provisioning_report(&ProvisioningQuery {
                limit: 50,
                ..Default::default()
            })
            .unwrap()
    );
    for i in [1, 5, 9_005] {
        assert!(
            !all.contains(&badge(i).0) && !all.contains(&badge(i).1),
            "badge {i} in the report"
        );
    }
}

/// The portal's *Delete* is a soft delete (`@removed` reason `changed`): revoked like a hard
/// delete, badge refused offline.
#[tokio::test]
async fn a_soft_deleted_user_is_revoked() {
    let k = tenant(20, 21, 10).await;
    let dir = directory(&k);
    run(&k, &dir).await.unwrap();
    assert!(k.sim.soft_delete_user(&oid(4)));
    let r = run(&k, &dir).await.unwrap();
    assert_eq!(
        (r.counts.revoked, r.counts.errors),
        (1, 0),
        "{:?}",
        r.counts
    );
    let store = &k.services.store;
    assert_eq!(
        store.user_by_oid(&oid(4)).unwrap().unwrap().status,
        UserStatus::Revoked
    );
    k.sim.set_network_down(true);
    assert!(matches!(
        tap(&k, &badge(4).0).await,
        Event::CardUnknown { .. }
    ));
}

#[tokio::test]
async fn an_expired_delta_link_resyncs_in_full_and_loses_nothing() {
    let k = tenant(60, 61, 25).await;
    let dir = directory(&k);
    run(&k, &dir).await.unwrap();
    assert!(k.sim.remove_user(&oid(7)));
    k.sim.expire_delta_tokens();
    let r = run(&k, &dir).await.unwrap();
    assert!(r.counts.full_resync, "{:?}", r.counts);
    assert_eq!(
        (r.counts.revoked, r.counts.created),
        (1, 0),
        "{:?}",
        r.counts
    );
    let store = &k.services.store;
    let active = store
        .list_users()
        .unwrap()
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .count();
    assert_eq!(active, 59);
    assert_eq!(
        store.user_by_oid(&oid(7)).unwrap().unwrap().status,
        UserStatus::Revoked
    );
    // And the next run is a plain delta again.
    let r = run(&k, &dir).await.unwrap();
    assert!(!r.counts.full_resync);
}

#[tokio::test]
async fn a_throttled_graph_is_waited_out() {
    let k = tenant(30, 31, 10).await;
    let dir = directory(&k);
    k.sim
        .inject_graph_faults(2, 429, Some(Duration::from_secs(1)));
    let started = std::time::Instant::now();
    let r = run(&k, &dir).await.unwrap();
    assert_eq!(r.counts.throttled_waits, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.counts.created, 30);
}

#[tokio::test]
async fn badge_conflicts_are_reported_not_guessed() {
    let k = tenant(12, 13, 50).await;
    // Users 1 and 2 claim one badge in the directory; user 4's badge is already enrolled on
    // the panel by someone who is not in the directory.
    assert!(k.sim.set_user_attribute(&oid(2), EXT3, badge(1).1.into()));
    let adele = k.user("adele@contoso.example");
    k.sign_in(&adele.oid, Some(&badge(4).0)).await.unwrap();
    let r = run(&k, &directory(&k)).await.unwrap();
    assert_eq!(r.counts.conflicts, 3, "{:?}", r.counts);
    let store = &k.services.store;
    assert!(store.cards_for_user(&oid(1)).unwrap().is_empty());
    assert!(store.cards_for_user(&oid(2)).unwrap().is_empty());
    assert!(store.cards_for_user(&oid(4)).unwrap().is_empty());
    assert_eq!(
        store.cards_for_user(&adele.oid).unwrap().len(),
        1,
        "panel card kept"
    );
}

#[tokio::test]
async fn an_unregistered_certificate_is_refused_with_entras_answer() {
    let k = tenant(3, 4, 10).await;
    k.sim.remove_app_certificates();
    let err = run(&k, &directory(&k)).await.unwrap_err();
    match &err {
        mfp_kiosk::directory::DirectoryError::TokenRefused(body) => {
            assert_eq!(body.error, "invalid_client");
            assert_eq!(body.aadsts_code(), Some(700027));
        }
        other => panic!("{other:?}"),
    }
    let last = k.services.store.last_provisioning_run().unwrap().unwrap();
    assert_eq!(last.outcome, "failed");
    assert!(last.error.unwrap().contains("AADSTS700027"));
}

/// Graph's delta `$filter` takes at most 50 group ids (the simulator refuses more, as Graph
/// does): 120 configured groups are tracked by three queries, each with its own delta link,
/// and a change in the last batch is picked up without a full resync of any.
#[tokio::test]
async fn more_than_fifty_groups_are_tracked_in_batches() {
    let k = tenant(130, 131, 50).await;
    let groups: Vec<String> = (0..120)
        .map(|j| format!("aaaaaaaa-0000-4000-8000-{j:012}"))
        .collect();
    for (j, g) in groups.iter().enumerate() {
        k.sim.add_group(g, &format!("Site {j}"));
        k.sim.add_group_member(g, &oid(j + 1), false);
    }
    let mut config = k.services.config.clone();
    config.directory.groups = groups.clone();
    let dir = mfp_kiosk::directory::sync::Directory::from_config(&config).unwrap();
    let (_, groups_before) = k.sim.delta_requests();
    let r = run(&k, &dir).await.unwrap();
    assert_eq!(r.counts.created, 120, "{:?}", r.counts);
    assert_eq!(r.counts.errors, 0);
    let store = &k.services.store;
    assert!(
        store.user_by_oid(&oid(121)).unwrap().is_none(),
        "not in any configured group"
    );
    assert!(store.user_by_oid(&oid(120)).unwrap().is_some());
    let (_, groups_after) = k.sim.delta_requests();
    assert_eq!(groups_after - groups_before, 3, "one query per 50 groups");
    for name in ["groups", "groups:1", "groups:2"] {
        assert!(store.dir_link(name).unwrap().is_some(), "{name}");
    }

    k.sim.remove_group_member(&groups[110], &oid(111));
    let r = run(&k, &dir).await.unwrap();
    assert!(!r.counts.full_resync, "each batch resumed from its link");
    assert_eq!(
        (r.counts.revoked, r.counts.created),
        (1, 0),
        "{:?}",
        r.counts
    );
    assert_eq!(
        store.user_by_oid(&oid(111)).unwrap().unwrap().status,
        UserStatus::Revoked
    );
    assert_eq!(
        store.user_by_oid(&oid(1)).unwrap().unwrap().status,
        UserStatus::Active,
        "the first batch's members are untouched"
    );
}
