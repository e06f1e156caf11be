//! Transition tests of the service menu, time passed in by hand.

use crate::i18n::Msg;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(120);

fn tech() -> Operator {
    Operator::Technician {
        oid: "oid-tech".into(),
        name: "Tom Tech".into(),
    }
}

fn row(oid: &str, name: &str) -> UserRow {
    UserRow {
        oid: oid.into(),
        name: name.into(),
        upn: format!("{}@contoso.example", name.to_lowercase().replace(' ', ".")),
        revoked: false,
    }
}

fn menu(t0: Instant) -> ServiceMenu {
    let (m, effect) = ServiceMenu::open(tech(), TIMEOUT, t0);
    assert!(matches!(
        effect,
        ServiceEffect::Record {
            action: "service_open",
            ..
        }
    ));
    m
}

fn card(s: &str) -> SecretString {
    SecretString::from(s)
}

fn page(m: &ServiceMenu) -> ServicePageView {
    m.view().page.expect("a page")
}

/// Types `text` key by key; returns the seq of the last search asked for.
fn type_text(m: &mut ServiceMenu, text: &str, t: Instant) -> u64 {
    let mut last = 0;
    for c in text.chars() {
        for e in m.handle(ServiceEvent::Key(c.to_string()), t) {
            match e {
                ServiceEffect::SearchUsers { seq, query } => {
                    assert!(query.ends_with(c), "{query}");
                    last = seq;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    last
}

#[test]
fn enroll_for_someone_search_pick_tap_conflict_move() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    assert_eq!(page(&m), ServicePageView::Menu);
    assert_eq!(m.view().actor, "Tom Tech (technician)");
    assert!(m.handle(ServiceEvent::Open(Section::Enroll), t0).is_empty());
    assert_eq!(page(&m), ServicePageView::PickUser);

    let first = type_text(&mut m, "a", t0);
    let second = type_text(&mut m, "n", t0);
    assert!(second > first);
    assert_eq!(m.view().query, "an");
    // The answer to the older search arrives last: it must not overwrite the newer one.
    m.handle(
        ServiceEvent::SearchResults {
            seq: second,
            users: vec![row("oid-ann", "Ann Lee")],
        },
        t0,
    );
    m.handle(
        ServiceEvent::SearchResults {
            seq: first,
            users: vec![row("oid-x", "Xavier A")],
        },
        t0,
    );
    assert_eq!(m.view().users, vec![row("oid-ann", "Ann Lee")]);

    // A user not in the results cannot be picked (a stale tap).
    assert!(m
        .handle(ServiceEvent::PickUser("oid-x".into()), t0)
        .is_empty());
    let fx = m.handle(ServiceEvent::PickUser("oid-ann".into()), t0);
    assert!(matches!(fx.as_slice(), [ServiceEffect::PrepareEnroll { oid }] if oid == "oid-ann"));
    assert_eq!(page(&m), ServicePageView::TapBadge);
    m.handle(
        ServiceEvent::EnrollTarget {
            oid: "oid-ann".into(),
            replaces: Some("•••• 0042".into()),
            max_per_user: 1,
        },
        t0,
    );
    let v = m.view();
    assert_eq!(v.prompt, "Tap the new badge for Ann Lee now");
    assert_eq!(
        v.detail,
        "This replaces •••• 0042 (at most 1 badge per user)."
    );

    let fx = m.on_card(card("0004417321"), t0);
    match fx.as_slice() {
        [ServiceEffect::BindCard {
            oid,
            card,
            allow_move: false,
        }] => {
            assert_eq!(oid, "oid-ann");
            assert_eq!(card.expose_secret(), "0004417321");
        }
        other => panic!("unexpected {other:?}"),
    }
    // A second tap while binding is ignored.
    assert!(m.on_card(card("999999"), t0).is_empty());

    m.handle(
        ServiceEvent::CardBound(BindOutcome::Conflict {
            owner: "Bob Ray <bob@contoso.example>".into(),
            masked: "•••• 7321".into(),
        }),
        t0,
    );
    assert_eq!(page(&m), ServicePageView::Conflict);
    let prompt = m.view().prompt;
    assert!(
        prompt.contains("Bob Ray") && prompt.contains("Ann Lee") && prompt.contains("•••• 7321"),
        "{prompt}"
    );
    assert!(
        !prompt.contains("4417321"),
        "only the masked suffix: {prompt}"
    );

    let fx = m.handle(ServiceEvent::MoveCard, t0);
    assert!(matches!(
        fx.as_slice(),
        [ServiceEffect::BindCard { allow_move: true, card, .. }] if card.expose_secret() == "0004417321"
    ));
    let fx = m.handle(
        ServiceEvent::CardBound(BindOutcome::Bound {
            user: "Ann Lee".into(),
            masked: "•••• 7321".into(),
            already_bound: false,
            moved_from: Some("Bob Ray".into()),
            replaced: vec!["•••• 0042".into()],
        }),
        t0,
    );
    assert!(matches!(fx.as_slice(), [ServiceEffect::LoadCards { oid }] if oid == "oid-ann"));
    let v = m.view();
    assert_eq!(v.page, Some(ServicePageView::Cards));
    assert_eq!(
        v.message,
        "Badge •••• 7321 enrolled for Ann Lee. Moved from Bob Ray. Replaced •••• 0042."
    );
}

#[test]
fn a_refused_bind_stays_on_the_tap_page_and_revoked_users_cannot_be_picked() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    m.handle(ServiceEvent::Open(Section::Enroll), t0);
    let seq = type_text(&mut m, "g", t0);
    let mut gone = row("oid-gone", "Gina Gone");
    gone.revoked = true;
    m.handle(
        ServiceEvent::SearchResults {
            seq,
            users: vec![gone, row("oid-g", "Gus Good")],
        },
        t0,
    );
    assert!(m
        .handle(ServiceEvent::PickUser("oid-gone".into()), t0)
        .is_empty());
    assert_eq!(page(&m), ServicePageView::PickUser);
    assert!(m.view().message_is_error);

    m.handle(ServiceEvent::PickUser("oid-g".into()), t0);
    m.on_card(card("12"), t0);
    m.handle(
        ServiceEvent::CardBound(BindOutcome::Refused {
            message: Msg::new("the card number does not pass the reader normalisation"),
        }),
        t0,
    );
    let v = m.view();
    assert_eq!(v.page, Some(ServicePageView::TapBadge));
    assert!(v.message_is_error && v.message.contains("normalisation"));
    assert!(
        !m.on_card(card("123456"), t0).is_empty(),
        "the next tap is taken"
    );
}

#[test]
fn batch_enrollment_taps_first_then_picks_and_repeats() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    m.handle(ServiceEvent::Open(Section::Batch), t0);
    assert_eq!(page(&m), ServicePageView::TapBadge);
    assert!(m.view().batch);
    for (i, (num, oid)) in [("1000001", "oid-a"), ("1000002", "oid-b")]
        .into_iter()
        .enumerate()
    {
        assert!(m.on_card(card(num), t0).is_empty());
        assert_eq!(page(&m), ServicePageView::PickUser);
        let seq = type_text(&mut m, "x", t0);
        m.handle(
            ServiceEvent::SearchResults {
                seq,
                users: vec![row(oid, "Xena")],
            },
            t0,
        );
        let fx = m.handle(ServiceEvent::PickUser(oid.into()), t0);
        assert!(matches!(
            fx.as_slice(),
            [ServiceEffect::BindCard { oid: o, card, allow_move: false }]
                if o == oid && card.expose_secret() == num
        ));
        m.handle(
            ServiceEvent::CardBound(BindOutcome::Bound {
                user: "Xena".into(),
                masked: "•••• 0001".into(),
                already_bound: false,
                moved_from: None,
                replaced: vec![],
            }),
            t0,
        );
        let v = m.view();
        assert_eq!(
            v.page,
            Some(ServicePageView::TapBadge),
            "back for the next badge"
        );
        assert_eq!(v.batch_count, i as u32 + 1);
        assert!(v.query.is_empty());
    }
    // Backing out of the pick drops that badge but stays in the batch.
    m.on_card(card("1000003"), t0);
    m.handle(ServiceEvent::Back, t0);
    assert_eq!(page(&m), ServicePageView::TapBadge);
    assert_eq!(m.view().batch_count, 2);
    m.handle(ServiceEvent::Back, t0);
    assert_eq!(page(&m), ServicePageView::Menu);
}

fn cards_page(t0: Instant) -> ServiceMenu {
    let mut m = menu(t0);
    m.handle(ServiceEvent::Open(Section::Cards), t0);
    let seq = type_text(&mut m, "a", t0);
    m.handle(
        ServiceEvent::SearchResults {
            seq,
            users: vec![row("oid-ann", "Ann Lee")],
        },
        t0,
    );
    let fx = m.handle(ServiceEvent::PickUser("oid-ann".into()), t0);
    assert!(matches!(fx.as_slice(), [ServiceEffect::LoadCards { oid }] if oid == "oid-ann"));
    m.handle(
        ServiceEvent::CardsLoaded(UserCards {
            user: row("oid-ann", "Ann Lee"),
            cards: vec![CardRow {
                masked: "•••• 7321".into(),
                bound: "2026-12-01 10:00".into(),
                bound_by: "technician tom@contoso.example".into(),
                last_used: "never".into(),
            }],
            has_pin: true,
            pin_locked: true,
        }),
        t0,
    );
    m
}

#[test]
fn card_actions_ask_first_and_reload_after() {
    let t0 = Instant::now();
    let mut m = cards_page(t0);
    let v = m.view();
    assert_eq!(v.cards.len(), 1);
    assert!(v.has_pin && v.pin_locked);

    // Revoke asks; nothing happens until Confirm, and other buttons wait meanwhile.
    assert!(m
        .handle(ServiceEvent::RevokeCard("•••• 7321".into()), t0)
        .is_empty());
    assert_eq!(m.view().confirm_text, "Revoke badge •••• 7321 of Ann Lee?");
    assert!(m.handle(ServiceEvent::RemovePin, t0).is_empty());
    assert!(m.handle(ServiceEvent::CancelConfirm, t0).is_empty());
    assert!(m.view().confirm_text.is_empty());
    assert!(
        m.handle(ServiceEvent::Confirm, t0).is_empty(),
        "no question open"
    );

    m.handle(ServiceEvent::RevokeAll, t0);
    let fx = m.handle(ServiceEvent::Confirm, t0);
    assert!(matches!(
        fx.as_slice(),
        [ServiceEffect::RevokeCards { oid, which: RevokeWhich::All }] if oid == "oid-ann"
    ));
    let fx = m.handle(
        ServiceEvent::ActionDone {
            ok: true,
            message: Msg::new("Revoked •••• 7321."),
        },
        t0,
    );
    assert!(matches!(fx.as_slice(), [ServiceEffect::LoadCards { .. }]));
    assert_eq!(m.view().message, "Revoked •••• 7321.");

    // An unknown card is not asked about; the lockout reset needs no question.
    assert!(m
        .handle(ServiceEvent::RevokeCard("•••• 0000".into()), t0)
        .is_empty());
    assert!(m.view().confirm_text.is_empty());
    assert!(matches!(
        m.handle(ServiceEvent::ResetPinLockout, t0).as_slice(),
        [ServiceEffect::ResetPinLockout { .. }]
    ));
    m.handle(ServiceEvent::RemovePin, t0);
    assert!(matches!(
        m.handle(ServiceEvent::Confirm, t0).as_slice(),
        [ServiceEffect::RemovePin { .. }]
    ));

    // The user's audit log opens filtered on them.
    let fx = m.handle(ServiceEvent::UserAudit, t0);
    match fx.as_slice() {
        [ServiceEffect::LoadAudit {
            filter,
            before_id: None,
        }] => {
            assert_eq!(
                filter.user.as_ref().map(|u| u.oid.as_str()),
                Some("oid-ann")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn reader_check_traces_taps_and_debug_hides_the_values() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    let fx = m.handle(ServiceEvent::Open(Section::Readers), t0);
    assert!(matches!(
        fx.as_slice(),
        [
            ServiceEffect::LoadReaders,
            ServiceEffect::Record {
                action: "reader_check",
                ..
            }
        ]
    ));
    let fx = m.on_card(card("04A1B2C3"), t0);
    assert!(
        matches!(fx.as_slice(), [ServiceEffect::TraceCard { card }] if card.expose_secret() == "04A1B2C3")
    );
    let fx = m.handle(
        ServiceEvent::CardTraced(vec![TraceRow {
            label: "raw".into(),
            value: Revealed("04A1B2C3".into()),
            ok: true,
        }]),
        t0,
    );
    assert!(matches!(fx.as_slice(), [ServiceEffect::LoadReaders]));
    let v = m.view();
    assert_eq!(v.trace[0].value.0, "04A1B2C3", "shown on the page");
    let logged = format!("{v:?}");
    assert!(!logged.contains("04A1B2C3"), "{logged}");
    // Taps on other pages do nothing at all.
    m.handle(ServiceEvent::Back, t0);
    assert!(m.on_card(card("04A1B2C3"), t0).is_empty());
}

#[test]
fn outbox_retry_only_failed_delete_after_confirm() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    assert!(matches!(
        m.handle(ServiceEvent::Open(Section::Outbox), t0).as_slice(),
        [ServiceEffect::LoadJobs]
    ));
    let job = |id: &str, state: &str| JobRow {
        id: id.into(),
        user: "Ann Lee".into(),
        workflow: "Scan to OneDrive".into(),
        size: "1.2 MB".into(),
        attempts: 3,
        state: state.into(),
        error: String::new(),
    };
    m.handle(
        ServiceEvent::JobsLoaded(vec![job("j1", "failed"), job("j2", "sending")]),
        t0,
    );
    assert!(m.handle(ServiceEvent::RetryJob("j2".into()), t0).is_empty());
    assert!(matches!(
        m.handle(ServiceEvent::RetryJob("j1".into()), t0).as_slice(),
        [ServiceEffect::RetryJob { id }] if id == "j1"
    ));
    assert!(m
        .handle(ServiceEvent::DeleteJob("j1".into()), t0)
        .is_empty());
    assert!(m.view().confirm_text.contains("will not be sent"));
    assert!(matches!(
        m.handle(ServiceEvent::Confirm, t0).as_slice(),
        [ServiceEffect::DeleteJob { id }] if id == "j1"
    ));
    assert!(matches!(
        m.handle(
            ServiceEvent::ActionDone {
                ok: true,
                message: Msg::new("Job deleted")
            },
            t0
        )
        .as_slice(),
        [ServiceEffect::LoadJobs]
    ));
}

#[test]
fn audit_pages_older_and_newer_and_filters_start_over() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    let fx = m.handle(ServiceEvent::Open(Section::Audit), t0);
    assert!(matches!(
        fx.as_slice(),
        [ServiceEffect::LoadAudit {
            before_id: None,
            ..
        }]
    ));
    m.handle(
        ServiceEvent::AuditLoaded {
            rows: vec![],
            older: Some(80),
        },
        t0,
    );
    assert!(m.view().audit_has_older && !m.view().audit_has_newer);
    assert!(matches!(
        m.handle(ServiceEvent::AuditOlder, t0).as_slice(),
        [ServiceEffect::LoadAudit {
            before_id: Some(80),
            ..
        }]
    ));
    m.handle(
        ServiceEvent::AuditLoaded {
            rows: vec![],
            older: None,
        },
        t0,
    );
    assert!(!m.view().audit_has_older && m.view().audit_has_newer);
    assert!(matches!(
        m.handle(ServiceEvent::AuditNewer, t0).as_slice(),
        [ServiceEffect::LoadAudit {
            before_id: None,
            ..
        }]
    ));
    let fx = m.handle(ServiceEvent::AuditActions(AuditActions::Cards), t0);
    match fx.as_slice() {
        [ServiceEffect::LoadAudit {
            filter,
            before_id: None,
        }] => {
            assert_eq!(filter.actions, AuditActions::Cards);
            assert_eq!(filter.span, AuditSpan::Week);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(m.view().audit_filter.actions.as_str(), "cards");
}

#[test]
fn keyboard_keeps_to_its_characters_and_shift_is_one_shot() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    m.handle(ServiceEvent::Open(Section::Enroll), t0);
    m.handle(ServiceEvent::ToggleShift, t0);
    assert!(m.view().shift);
    m.handle(ServiceEvent::Key("A".into()), t0);
    assert!(!m.view().shift);
    for bad in ["", "\n", "%", "é"] {
        assert!(m.handle(ServiceEvent::Key(bad.into()), t0).is_empty());
    }
    for k in ["@", ".", "-", "_", "7"] {
        m.handle(ServiceEvent::Key(k.into()), t0);
    }
    assert_eq!(m.view().query, "A@.-_7");
    for _ in 0..6 {
        m.handle(ServiceEvent::Backspace, t0);
    }
    assert_eq!(m.view().query, "");
    assert!(m.handle(ServiceEvent::Backspace, t0).is_empty());
    for _ in 0..(MAX_QUERY + 5) {
        m.handle(ServiceEvent::Key("x".into()), t0);
    }
    assert_eq!(m.view().query.len(), MAX_QUERY);
}

#[test]
fn the_menu_times_out_on_its_own_clock_and_answers_do_not_count() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    assert!(!m.timed_out(t0 + TIMEOUT - Duration::from_secs(1)));
    m.handle(
        ServiceEvent::Open(Section::Health),
        t0 + Duration::from_secs(60),
    );
    m.handle(
        ServiceEvent::HealthLoaded {
            rows: vec![],
            checked: false,
        },
        t0 + Duration::from_secs(170),
    );
    assert!(!m.timed_out(t0 + Duration::from_secs(179)));
    assert!(
        m.timed_out(t0 + Duration::from_secs(180)),
        "an answer is not a touch"
    );
    assert!(matches!(
        m.close("exit"),
        ServiceEffect::Record {
            action: "service_exit",
            ..
        }
    ));
}

#[test]
fn sync_now_runs_once_at_a_time_and_shows_how_it_ended() {
    let t0 = Instant::now();
    let mut m = menu(t0);
    let effects = m.handle(ServiceEvent::Open(Section::Health), t0);
    assert!(matches!(effects[..], [ServiceEffect::LoadHealth]));
    assert_eq!(m.view().sync, SyncState::Idle);

    let effects = m.handle(ServiceEvent::SyncNow, t0);
    assert!(matches!(effects[..], [ServiceEffect::SyncDirectory]));
    assert_eq!(m.view().sync, SyncState::Running);
    assert!(
        m.handle(ServiceEvent::SyncNow, t0).is_empty(),
        "a second press while it runs starts nothing"
    );
    // The checks still run beside it.
    assert!(matches!(
        m.handle(ServiceEvent::RunChecks, t0)[..],
        [ServiceEffect::RunChecks]
    ));

    let last_run = InfoRow {
        label: "Last directory run".into(),
        value: "service-menu directory_sync: ok; 3 created".into(),
        ok: true,
    };
    m.handle(
        ServiceEvent::DirectorySynced {
            result: SyncState::Done,
            rows: vec![last_run.clone()],
        },
        t0 + Duration::from_secs(5),
    );
    let v = m.view();
    assert_eq!(v.sync, SyncState::Done);
    assert_eq!(v.health, vec![last_run]);
    assert!(
        m.timed_out(t0 + TIMEOUT),
        "the sync's answer is not a touch"
    );

    // Again, failing this time; then left: a late answer shows nowhere.
    let t1 = t0 + Duration::from_secs(10);
    assert!(matches!(
        m.handle(ServiceEvent::SyncNow, t1)[..],
        [ServiceEffect::SyncDirectory]
    ));
    m.handle(
        ServiceEvent::DirectorySynced {
            result: SyncState::Failed,
            rows: vec![],
        },
        t1,
    );
    assert_eq!(m.view().sync, SyncState::Failed);
    m.handle(ServiceEvent::Back, t1);
    m.handle(
        ServiceEvent::DirectorySynced {
            result: SyncState::Done,
            rows: vec![],
        },
        t1,
    );
    assert_eq!(m.view().sync, SyncState::Idle);
    assert!(
        m.handle(ServiceEvent::SyncNow, t1).is_empty(),
        "Sync now lives on the health page only"
    );
}
