//! The sheet's rules and its transitions through the kiosk machine, time passed in by hand.

use std::time::{Duration, Instant};

use super::*;
use crate::kiosk::machine::{AuthMethod, Event, KioskSettings, SessionUser, WorkflowEntry};
use crate::kiosk::ViewPage;
use crate::scan::caps::Resolutions;

fn spec() -> SheetSpec {
    SheetSpec {
        workflow_id: "wf".into(),
        label: "Scan to OneDrive".into(),
        source: ScanSource::Adf,
        color: ColorMode::Color,
        dpi: 300,
        page_size: PageSize::A4,
        resolutions: vec![150, 200, 300],
        allow_rename: true,
        more_pages: true,
        file_name: Ok("Scan 2026-12-01.pdf".into()),
        folders: None,
    }
}

fn caps() -> ScannerCaps {
    ScannerCaps::unrestricted()
}

#[test]
fn defaults_are_preselected_and_only_what_the_device_can_do_is_offered() {
    let sheet = ScanSheet::new(spec(), Some(&caps()));
    assert!(sheet.duplex_offered);
    assert_eq!(sheet.choice.sides, Sides::One);
    assert_eq!(sheet.choice.color, ColorMode::Color);
    assert_eq!(sheet.choice.dpi, 300);
    assert_eq!(sheet.choice.page_size, PageSize::A4);
    assert_eq!(sheet.file_name(), "Scan 2026-12-01.pdf");
    assert!(sheet.can_start());

    // A simplex feeder with two modes, 100..300 in steps of 100 and a Letter-wide glass.
    let small = ScannerCaps {
        colors: vec![ColorMode::Gray, ColorMode::BlackWhite],
        resolutions: Resolutions::Range {
            min: 100,
            max: 300,
            step: 100,
        },
        sources: vec![ScanSource::Flatbed, ScanSource::Adf],
        max_area_mm: Some((216.0, 280.0)),
    };
    let mut s = spec();
    s.source = ScanSource::AdfDuplex;
    s.dpi = 150;
    let sheet = ScanSheet::new(s, Some(&small));
    assert!(!sheet.duplex_offered, "no duplex unit: no sides choice");
    assert_eq!(sheet.choice.source, ScanSource::Adf);
    assert_eq!(sheet.choice.sides, Sides::One);
    assert_eq!(sheet.colors, vec![ColorMode::Gray, ColorMode::BlackWhite]);
    assert_eq!(sheet.choice.color, ColorMode::Gray, "colour is not offered");
    assert_eq!(sheet.resolutions, vec![200, 300]);
    assert_eq!(sheet.choice.dpi, 200, "the nearest offered to 150");
    assert_eq!(sheet.page_sizes, vec![PageSize::Letter, PageSize::A5]);
    assert_eq!(sheet.choice.page_size, PageSize::Letter);
}

#[test]
fn changes_outside_the_offer_are_ignored() {
    let small = ScannerCaps {
        colors: vec![ColorMode::Gray],
        sources: vec![ScanSource::Adf],
        ..caps()
    };
    let mut sheet = ScanSheet::new(spec(), Some(&small));
    sheet.change(SheetEvent::Color(ColorMode::Color));
    sheet.change(SheetEvent::Sides(Sides::Two));
    sheet.change(SheetEvent::Dpi(600));
    assert_eq!(sheet.choice.color, ColorMode::Gray);
    assert_eq!(sheet.choice.sides, Sides::One);
    assert_eq!(sheet.choice.dpi, 300);

    let mut sheet = ScanSheet::new(spec(), Some(&caps()));
    sheet.change(SheetEvent::Sides(Sides::Two));
    sheet.change(SheetEvent::Color(ColorMode::BlackWhite));
    sheet.change(SheetEvent::Dpi(150));
    sheet.change(SheetEvent::PageSize(PageSize::Legal));
    assert_eq!(sheet.choice.source, ScanSource::AdfDuplex);
    assert_eq!(
        sheet.choice.scan_options(),
        ScanOptions {
            dpi: 150,
            color: ColorMode::BlackWhite,
            source: ScanSource::AdfDuplex,
            page_size: PageSize::Legal,
        }
    );
}

#[test]
fn problems_block_start_with_a_code() {
    assert_eq!(
        ScanSheet::new(spec(), None).problem,
        Some(SheetProblem::ScannerUnavailable)
    );
    let glass_only = ScannerCaps {
        sources: vec![ScanSource::Flatbed],
        ..caps()
    };
    let sheet = ScanSheet::new(spec(), Some(&glass_only));
    assert_eq!(sheet.problem, Some(SheetProblem::NoSource));
    assert!(!sheet.can_start());
    let lists = ScannerCaps {
        resolutions: Resolutions::List(vec![600]),
        ..caps()
    };
    assert_eq!(
        ScanSheet::new(spec(), Some(&lists)).problem,
        Some(SheetProblem::NoResolution)
    );
    let mut s = spec();
    s.folders = Some(Vec::new());
    assert_eq!(
        ScanSheet::new(s, Some(&caps())).problem,
        Some(SheetProblem::NoFolders)
    );
    let mut s = spec();
    s.file_name = Err("empty".into());
    assert_eq!(
        ScanSheet::new(s, Some(&caps())).problem,
        Some(SheetProblem::BadTemplate)
    );
}

#[test]
fn several_folders_wait_for_a_pick_and_only_the_users_own_count() {
    let mut s = spec();
    s.folders = Some(vec!["Finance".into(), "Projects/Alpha".into()]);
    let mut sheet = ScanSheet::new(s, Some(&caps()));
    assert_eq!(sheet.choice.folder, None);
    assert!(!sheet.can_start(), "a folder must be picked");
    sheet.change(SheetEvent::Folder("HR".into()));
    assert_eq!(sheet.choice.folder, None, "not one of the user's folders");
    sheet.change(SheetEvent::Folder("Projects/Alpha".into()));
    assert_eq!(sheet.choice.folder.as_deref(), Some("Projects/Alpha"));
    assert!(sheet.can_start());

    let mut s = spec();
    s.folders = Some(vec!["Only".into()]);
    assert_eq!(
        ScanSheet::new(s, Some(&caps())).choice.folder.as_deref(),
        Some("Only")
    );
}

#[test]
fn renaming_types_checks_and_keeps_the_pdf_extension() {
    let mut sheet = ScanSheet::new(spec(), Some(&caps()));
    sheet.change(SheetEvent::EditName);
    assert_eq!(sheet.editing.as_deref(), Some("Scan 2026-12-01"));
    assert!(!sheet.can_start(), "no start while typing");
    for _ in 0.."2026-12-01".len() {
        sheet.change(SheetEvent::NameBackspace);
    }
    for c in ["C", "o", "n", "t", "r", "a", "c", "t"] {
        sheet.change(SheetEvent::NameKey(c.into()));
    }
    sheet.change(SheetEvent::NameDone);
    assert_eq!(sheet.editing, None);
    assert_eq!(sheet.file_name(), "Scan Contract.pdf");
    assert_eq!(sheet.choice.file_name.as_deref(), Some("Scan Contract.pdf"));

    // Emptied: refused with a code, the keyboard stays open.
    sheet.change(SheetEvent::EditName);
    for _ in 0..40 {
        sheet.change(SheetEvent::NameBackspace);
    }
    sheet.change(SheetEvent::NameDone);
    assert_eq!(sheet.name_problem, Some(NameProblem::Empty));
    assert!(sheet.editing.is_some());
    sheet.change(SheetEvent::NameCancel);
    assert_eq!(
        sheet.file_name(),
        "Scan Contract.pdf",
        "cancel keeps the last name"
    );

    let mut fixed = spec();
    fixed.allow_rename = false;
    let mut sheet = ScanSheet::new(fixed, Some(&caps()));
    sheet.change(SheetEvent::EditName);
    assert_eq!(sheet.editing, None, "the workflow does not allow renaming");
}

#[test]
fn typed_names_are_validated() {
    assert_eq!(check_name("Contract"), Ok("Contract.pdf".into()));
    assert_eq!(check_name(" Contract.PDF "), Ok("Contract.pdf".into()));
    assert_eq!(check_name("..."), Err(NameProblem::Empty));
    assert_eq!(check_name(".pdf"), Err(NameProblem::Empty));
    assert_eq!(check_name("a/b"), Err(NameProblem::Forbidden));
    assert_eq!(check_name("a:b"), Err(NameProblem::Forbidden));
    assert_eq!(check_name("con"), Err(NameProblem::Reserved));
    assert_eq!(check_name("LPT1.pdf"), Err(NameProblem::Reserved));
    assert_eq!(check_name("~$lock"), Err(NameProblem::Reserved));
    assert_eq!(check_name("x_vti_y"), Err(NameProblem::Reserved));
    assert_eq!(
        check_name(&"x".repeat(MAX_NAME_CHARS + 1)),
        Err(NameProblem::TooLong)
    );
    assert_eq!(check_name("Zoë 山田"), Ok("Zoë 山田.pdf".into()));
}

fn home(t0: Instant, quick: bool) -> Kiosk {
    let mut k = Kiosk::new(KioskSettings::default(), t0);
    k.session = Some(SessionUser {
        oid: "oid-1".into(),
        display_name: "Adele Vance".into(),
        upn: "adele@contoso.example".into(),
        is_technician: false,
        must_set_pin: false,
        language: None,
        method: AuthMethod::Card,
        workflows: vec![WorkflowEntry {
            id: "wf".into(),
            label: "Scan to OneDrive".into(),
            badge: "OD".into(),
            destination: "OneDrive".into(),
            quick,
        }],
    });
    k.screen = Screen::Home;
    k.last_activity = t0;
    k
}

fn sheet_event(e: SheetEvent) -> Event {
    Event::Sheet(e)
}

#[test]
fn a_tile_opens_the_sheet_and_start_scans_with_the_choice() {
    let t0 = Instant::now();
    let mut k = home(t0, false);
    let fx = k.handle(sheet_event(SheetEvent::Open { id: "wf".into() }), t0);
    assert!(matches!(fx.as_slice(),
        [Effect::Sheet(SheetEffect::Prepare { oid, workflow_id })] if oid == "oid-1" && workflow_id == "wf"));
    let v = k.view(t0);
    assert_eq!(v.page, ViewPage::ScanSheet);
    assert!(v.sheet.as_ref().unwrap().loading);

    // An answer for another workflow is not this sheet's.
    let mut other = spec();
    other.workflow_id = "other".into();
    k.handle(
        sheet_event(SheetEvent::Ready {
            spec: Box::new(other),
            caps: Some(caps()),
        }),
        t0,
    );
    assert!(k.view(t0).sheet.unwrap().loading);

    k.handle(
        sheet_event(SheetEvent::Ready {
            spec: Box::new(spec()),
            caps: Some(caps()),
        }),
        t0,
    );
    k.handle(sheet_event(SheetEvent::Sides(Sides::Two)), t0);
    k.handle(sheet_event(SheetEvent::Color(ColorMode::Gray)), t0);
    let v = k.view(t0).sheet.unwrap();
    assert!(v.two_sided && v.color == Some(ColorMode::Gray) && v.can_start);
    let fx = k.handle(sheet_event(SheetEvent::Start), t0);
    match fx.as_slice() {
        [Effect::Sheet(SheetEffect::Start {
            oid,
            workflow_id,
            settings,
        })] => {
            assert_eq!((oid.as_str(), workflow_id.as_str()), ("oid-1", "wf"));
            assert_eq!(settings.source, ScanSource::AdfDuplex);
            assert_eq!(settings.color, ColorMode::Gray);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(k.view(t0).page, ViewPage::Scanning);
}

#[test]
fn a_quick_workflow_skips_the_sheet_and_cancel_goes_home() {
    let t0 = Instant::now();
    let mut k = home(t0, true);
    let fx = k.handle(sheet_event(SheetEvent::Open { id: "wf".into() }), t0);
    assert!(matches!(fx.as_slice(), [Effect::StartWorkflow { .. }]));
    assert_eq!(k.view(t0).page, ViewPage::Scanning);

    let mut k = home(t0, false);
    k.handle(sheet_event(SheetEvent::Open { id: "wf".into() }), t0);
    k.handle(sheet_event(SheetEvent::Cancel), t0);
    assert_eq!(k.view(t0).page, ViewPage::Home);
}

#[test]
fn another_page_loops_and_an_unanswered_question_sends_what_was_scanned() {
    let t0 = Instant::now();
    let mut k = home(t0, false);
    k.handle(sheet_event(SheetEvent::Open { id: "wf".into() }), t0);
    let mut s = spec();
    s.source = ScanSource::Flatbed;
    k.handle(
        sheet_event(SheetEvent::Ready {
            spec: Box::new(s),
            caps: Some(caps()),
        }),
        t0,
    );
    let v = k.view(t0).sheet.unwrap();
    assert!(v.more_pages && !v.duplex_offered);
    let fx = k.handle(sheet_event(SheetEvent::Start), t0);
    assert!(matches!(fx.as_slice(),
        [Effect::Sheet(SheetEffect::Start { settings, .. })] if settings.more_pages));

    for pages in 1..=2 {
        k.handle(sheet_event(SheetEvent::AskAnotherPage { pages }), t0);
        let v = k.view(t0);
        assert_eq!(v.page, ViewPage::AnotherPage);
        assert_eq!(v.sheet.unwrap().pages, pages);
        let fx = k.handle(sheet_event(SheetEvent::AnotherPage(true)), t0);
        assert!(matches!(
            fx.as_slice(),
            [Effect::Sheet(SheetEffect::MorePages(true))]
        ));
        assert_eq!(k.view(t0).page, ViewPage::Scanning);
    }
    k.handle(sheet_event(SheetEvent::AskAnotherPage { pages: 3 }), t0);
    let fx = k.handle(sheet_event(SheetEvent::AnotherPage(false)), t0);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Sheet(SheetEffect::MorePages(false))]
    ));

    // Walked away from the question: the document goes out, the session is not ended mid-job.
    k.handle(sheet_event(SheetEvent::AskAnotherPage { pages: 4 }), t0);
    let later = t0 + KioskSettings::default().inactivity_timeout + Duration::from_secs(1);
    let fx = k.handle(Event::Tick, later);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Sheet(SheetEffect::MorePages(false))]
    ));
    assert!(k.session().is_some());
    assert_eq!(k.view(later).page, ViewPage::Scanning);
}

#[test]
fn an_abandoned_sheet_signs_out() {
    let t0 = Instant::now();
    let mut k = home(t0, false);
    k.handle(sheet_event(SheetEvent::Open { id: "wf".into() }), t0);
    let timeout = KioskSettings::default().inactivity_timeout;
    assert!(k
        .countdown_secs(t0 + timeout - Duration::from_secs(3))
        .is_some());
    let fx = k.handle(Event::Tick, t0 + timeout);
    assert!(matches!(fx.as_slice(), [Effect::EndSession { .. }]));
    assert_eq!(k.view(t0 + timeout).page, ViewPage::Idle);
}

#[test]
fn cancel_at_another_page_cancels_the_job_and_releases_it() {
    let t0 = Instant::now();
    let mut k = home(t0, true);
    k.handle(sheet_event(SheetEvent::Open { id: "wf".into() }), t0);
    k.handle(sheet_event(SheetEvent::AskAnotherPage { pages: 1 }), t0);
    let fx = k.handle(sheet_event(SheetEvent::Cancel), t0);
    assert!(
        matches!(
            fx.as_slice(),
            [
                Effect::CancelScan,
                Effect::Sheet(SheetEffect::MorePages(false))
            ]
        ),
        "{fx:?}"
    );
    assert_eq!(
        k.view(t0).page,
        ViewPage::Scanning,
        "until the job reports back"
    );
}
