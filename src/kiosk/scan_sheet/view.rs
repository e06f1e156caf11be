//! What the scan settings sheet and "Another page?" show, derived from [`SheetScreen`]: plain
//! data the UI adapter maps onto the `ScanSheet` global.

use super::{NameProblem, SheetProblem, SheetScreen, Sides};
use crate::scan::{ColorMode, PageSize};

/// What the sheet and the "Another page?" page show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SheetView {
    pub label: String,
    /// Waiting for the scanner's abilities.
    pub loading: bool,
    /// "Another page?" is asked, with `pages` in the document so far.
    pub another_page: bool,
    pub pages: u32,
    pub duplex_offered: bool,
    pub two_sided: bool,
    pub colors: Vec<ColorMode>,
    pub color: Option<ColorMode>,
    pub resolutions: Vec<u32>,
    pub dpi: u32,
    pub page_sizes: Vec<PageSize>,
    pub page_size: Option<PageSize>,
    /// The user's folders to pick from (empty: no folder choice on this workflow).
    pub folders: Vec<String>,
    pub folder: Option<String>,
    pub allow_rename: bool,
    pub file_name: String,
    /// The name being typed, while the keyboard is open.
    pub editing: Option<String>,
    pub name_problem: Option<NameProblem>,
    pub problem: Option<SheetProblem>,
    pub can_start: bool,
    /// Flatbed: "Another page?" will be asked after each page.
    pub more_pages: bool,
}

impl SheetScreen {
    pub fn view(&self) -> SheetView {
        match self {
            SheetScreen::Loading { label, .. } => SheetView {
                label: label.clone(),
                loading: true,
                ..SheetView::default()
            },
            SheetScreen::AnotherPage { workflow, pages } => SheetView {
                label: workflow.clone(),
                another_page: true,
                pages: *pages,
                ..SheetView::default()
            },
            SheetScreen::Open(s) => SheetView {
                label: s.label.clone(),
                loading: false,
                another_page: false,
                pages: 0,
                duplex_offered: s.duplex_offered,
                two_sided: s.choice.sides == Sides::Two,
                colors: s.colors.clone(),
                color: Some(s.choice.color),
                resolutions: s.resolutions.clone(),
                dpi: s.choice.dpi,
                page_sizes: s.page_sizes.clone(),
                page_size: Some(s.choice.page_size),
                folders: s.folders.clone().unwrap_or_default(),
                folder: s.choice.folder.clone(),
                allow_rename: s.allow_rename,
                file_name: s.file_name().to_string(),
                editing: s.editing.clone(),
                name_problem: s.name_problem,
                problem: s.problem,
                can_start: s.can_start(),
                more_pages: s.choice.more_pages,
            },
        }
    }
}
