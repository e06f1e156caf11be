//! Bridge between the scan settings sheet and its Slint adapter: a [`SheetView`] becomes a
//! [`SheetUiState`] (choices as the codes ui/scan_sheet_api.slint documents), a
//! [`SheetCommand`] becomes a kiosk event. A code the markup should never send is dropped here.

use super::controller::ControllerHandle;
use crate::kiosk::scan_sheet::{NameProblem, SheetProblem, SheetView};
use crate::kiosk::{Event, SheetEvent, Sides};
use crate::scan::{ColorMode, PageSize};
use crate::ui::scan_sheet::{SheetCommand, SheetUiState};

fn color_code(c: ColorMode) -> i32 {
    match c {
        ColorMode::Color => 0,
        ColorMode::Gray => 1,
        ColorMode::BlackWhite => 2,
    }
}

fn color_of(code: i32) -> Option<ColorMode> {
    [ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite]
        .into_iter()
        .find(|c| color_code(*c) == code)
}

fn size_code(s: PageSize) -> i32 {
    match s {
        PageSize::A4 => 0,
        PageSize::Letter => 1,
        PageSize::Legal => 2,
        PageSize::A5 => 3,
    }
}

fn size_of(code: i32) -> Option<PageSize> {
    [
        PageSize::A4,
        PageSize::Letter,
        PageSize::Legal,
        PageSize::A5,
    ]
    .into_iter()
    .find(|s| size_code(*s) == code)
}

fn problem_code(p: Option<SheetProblem>) -> i32 {
    match p {
        None => 0,
        Some(SheetProblem::ScannerUnavailable) => 1,
        Some(SheetProblem::NoSource) => 2,
        Some(SheetProblem::NoResolution) => 3,
        Some(SheetProblem::NoColor) => 4,
        Some(SheetProblem::NoFolders) => 5,
        Some(SheetProblem::BadTemplate) => 6,
    }
}

fn name_problem_code(p: Option<NameProblem>) -> i32 {
    match p {
        None => 0,
        Some(NameProblem::Empty) => 1,
        Some(NameProblem::TooLong) => 2,
        Some(NameProblem::Forbidden) => 3,
        Some(NameProblem::Reserved) => 4,
    }
}

fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The UI state of the sheet.
pub fn sheet_ui_state(v: &SheetView) -> SheetUiState {
    SheetUiState {
        label: v.label.clone(),
        loading: v.loading,
        another_page: v.another_page,
        pages: v.pages,
        duplex_offered: v.duplex_offered,
        two_sided: v.two_sided,
        colors: v.colors.iter().copied().map(color_code).collect(),
        color: v.color.map_or(-1, color_code),
        resolutions: v.resolutions.iter().copied().map(int).collect(),
        dpi: int(v.dpi),
        page_sizes: v.page_sizes.iter().copied().map(size_code).collect(),
        page_size: v.page_size.map_or(-1, size_code),
        folders: v.folders.clone(),
        folder: v.folder.clone().unwrap_or_default(),
        allow_rename: v.allow_rename,
        file_name: v.file_name.clone(),
        editing: v.editing.is_some(),
        name_draft: v.editing.clone().unwrap_or_default(),
        name_problem: name_problem_code(v.name_problem),
        problem: problem_code(v.problem),
        can_start: v.can_start,
        more_pages: v.more_pages,
    }
}

/// The kiosk event for a sheet command; `None` for a code the sheet never offers.
pub fn sheet_event(command: SheetCommand) -> Option<SheetEvent> {
    Some(match command {
        SheetCommand::Sides(1) => SheetEvent::Sides(Sides::One),
        SheetCommand::Sides(2) => SheetEvent::Sides(Sides::Two),
        SheetCommand::Sides(_) => return None,
        SheetCommand::Color(c) => SheetEvent::Color(color_of(c)?),
        SheetCommand::Dpi(d) => SheetEvent::Dpi(u32::try_from(d).ok()?),
        SheetCommand::PageSize(s) => SheetEvent::PageSize(size_of(s)?),
        SheetCommand::Folder(f) => SheetEvent::Folder(f),
        SheetCommand::EditName => SheetEvent::EditName,
        SheetCommand::NameKey(t) => SheetEvent::NameKey(t),
        SheetCommand::NameBackspace => SheetEvent::NameBackspace,
        SheetCommand::NameDone => SheetEvent::NameDone,
        SheetCommand::NameCancel => SheetEvent::NameCancel,
        SheetCommand::Start => SheetEvent::Start,
        SheetCommand::Cancel | SheetCommand::CancelJob => SheetEvent::Cancel,
        SheetCommand::Another(more) => SheetEvent::AnotherPage(more),
    })
}

/// A sheet command sink that forwards to the controller; every command counts as activity.
pub fn sheet_sink(handle: ControllerHandle) -> impl Fn(SheetCommand) + Clone + 'static {
    move |command| {
        handle.event(Event::Activity);
        match sheet_event(command) {
            Some(e) => handle.event(Event::Sheet(e)),
            None => tracing::error!("the sheet sent a choice it does not offer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_dropped() {
        for c in [ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite] {
            assert_eq!(color_of(color_code(c)), Some(c));
        }
        for s in [
            PageSize::A4,
            PageSize::Letter,
            PageSize::Legal,
            PageSize::A5,
        ] {
            assert_eq!(size_of(size_code(s)), Some(s));
        }
        assert!(sheet_event(SheetCommand::Color(7)).is_none());
        assert!(sheet_event(SheetCommand::Sides(3)).is_none());
        assert!(sheet_event(SheetCommand::Dpi(-1)).is_none());
        assert!(matches!(
            sheet_event(SheetCommand::Sides(2)),
            Some(SheetEvent::Sides(Sides::Two))
        ));
    }
}
