//! Adapter between the `ScanSheet` global of ui/scan_sheet_api.slint (the scan settings sheet
//! and "Another page?") and the rest of the app, as [`super`] is for `Kiosk`: a plain-Rust
//! [`SheetUiState`] pushed with [`apply`], every callback arriving as one [`SheetCommand`]
//! through the sink given to [`bind`]. Choices travel as the codes the .slint file documents
//! (colour 0..=2, page size 0..=3, problems), which the markup turns into translated words.

use std::rc::Rc;

use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use super::to_slint_int;
use crate::{MainWindow, ScanSheet};

/// Everything the sheet shows; one field per `in` property of `ScanSheet`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SheetUiState {
    pub label: String,
    pub loading: bool,
    pub another_page: bool,
    pub pages: u32,
    pub duplex_offered: bool,
    pub two_sided: bool,
    pub colors: Vec<i32>,
    pub color: i32,
    pub resolutions: Vec<i32>,
    pub dpi: i32,
    pub page_sizes: Vec<i32>,
    pub page_size: i32,
    pub folders: Vec<String>,
    pub folder: String,
    pub allow_rename: bool,
    pub file_name: String,
    pub editing: bool,
    pub name_draft: String,
    pub name_problem: i32,
    pub problem: i32,
    pub can_start: bool,
    pub more_pages: bool,
}

/// What the user did on the sheet; one variant per callback of `ScanSheet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetCommand {
    /// 1 or 2.
    Sides(i32),
    Color(i32),
    Dpi(i32),
    PageSize(i32),
    Folder(String),
    EditName,
    NameKey(String),
    NameBackspace,
    NameDone,
    NameCancel,
    Start,
    Cancel,
    Another(bool),
    CancelJob,
}

fn ints(current: &ModelRc<i32>, wanted: &[i32]) -> Option<ModelRc<i32>> {
    let same =
        current.row_count() == wanted.len() && current.iter().zip(wanted).all(|(a, b)| a == *b);
    (!same).then(|| ModelRc::from(Rc::new(VecModel::from(wanted.to_vec()))))
}

/// Pushes `state` into the `ScanSheet` global; list models are only replaced when they differ.
pub fn apply(window: &MainWindow, state: &SheetUiState) {
    let g = window.global::<ScanSheet>();
    let s = |v: &str| SharedString::from(v);
    g.set_label(s(&state.label));
    g.set_loading(state.loading);
    g.set_another_page(state.another_page);
    g.set_pages(to_slint_int(state.pages));
    g.set_duplex_offered(state.duplex_offered);
    g.set_two_sided(state.two_sided);
    if let Some(m) = ints(&g.get_colors(), &state.colors) {
        g.set_colors(m);
    }
    g.set_color(state.color);
    if let Some(m) = ints(&g.get_resolutions(), &state.resolutions) {
        g.set_resolutions(m);
    }
    g.set_dpi(state.dpi);
    if let Some(m) = ints(&g.get_page_sizes(), &state.page_sizes) {
        g.set_page_sizes(m);
    }
    g.set_page_size(state.page_size);
    let folders = g.get_folders();
    let same = folders.row_count() == state.folders.len()
        && folders
            .iter()
            .zip(&state.folders)
            .all(|(a, b)| a == b.as_str());
    if !same {
        let rows: Vec<SharedString> = state.folders.iter().map(|f| s(f)).collect();
        g.set_folders(ModelRc::from(Rc::new(VecModel::from(rows))));
    }
    g.set_folder(s(&state.folder));
    g.set_allow_rename(state.allow_rename);
    g.set_file_name(s(&state.file_name));
    g.set_editing(state.editing);
    g.set_name_draft(s(&state.name_draft));
    g.set_name_problem(state.name_problem);
    g.set_problem(state.problem);
    g.set_can_start(state.can_start);
    g.set_more_pages(state.more_pages);
}

/// Connects every callback of the `ScanSheet` global to `sink`.
pub fn bind(window: &MainWindow, sink: impl Fn(SheetCommand) + Clone + 'static) {
    use SheetCommand as C;
    let g = window.global::<ScanSheet>();
    let k = sink.clone();
    g.on_set_sides(move |n| k(C::Sides(n)));
    let k = sink.clone();
    g.on_set_color(move |n| k(C::Color(n)));
    let k = sink.clone();
    g.on_set_dpi(move |n| k(C::Dpi(n)));
    let k = sink.clone();
    g.on_set_page_size(move |n| k(C::PageSize(n)));
    let k = sink.clone();
    g.on_pick_folder(move |f| k(C::Folder(f.to_string())));
    let k = sink.clone();
    g.on_edit_name(move || k(C::EditName));
    let k = sink.clone();
    g.on_name_key(move |t| k(C::NameKey(t.to_string())));
    let k = sink.clone();
    g.on_name_backspace(move || k(C::NameBackspace));
    let k = sink.clone();
    g.on_name_done(move || k(C::NameDone));
    let k = sink.clone();
    g.on_name_cancel(move || k(C::NameCancel));
    let k = sink.clone();
    g.on_start(move || k(C::Start));
    let k = sink.clone();
    g.on_cancel(move || k(C::Cancel));
    let k = sink.clone();
    g.on_another(move |more| k(C::Another(more)));
    g.on_cancel_job(move || sink(C::CancelJob));
}
