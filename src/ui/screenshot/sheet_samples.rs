//! Sample states of the scan settings sheet and of "Another page?" for screenshots.

use crate::ui::scan_sheet::SheetUiState;

/// Sheet pages `mfp-kiosk screenshot --page` takes.
pub const SHEET_SAMPLE_PAGES: &[&str] = &["scan-sheet", "scan-sheet-rename", "another-page"];

/// The sheet state for one of [`SHEET_SAMPLE_PAGES`].
pub fn sheet_sample(page: &str) -> Option<SheetUiState> {
    let sheet = SheetUiState {
        label: "Scan to my team folder".into(),
        duplex_offered: true,
        two_sided: true,
        colors: vec![0, 1, 2],
        color: 1,
        resolutions: vec![150, 200, 300],
        dpi: 200,
        page_sizes: vec![0, 1, 2, 3],
        page_size: 0,
        folders: vec![
            "Finance/Invoices".into(),
            "Finance/Contracts".into(),
            "Board".into(),
        ],
        folder: "Finance/Contracts".into(),
        allow_rename: true,
        file_name: "Adele Vance 2026-12-01 0942.pdf".into(),
        can_start: true,
        ..SheetUiState::default()
    };
    Some(match page {
        "scan-sheet" => sheet,
        "scan-sheet-rename" => SheetUiState {
            editing: true,
            name_draft: "Contract Fabrikam".into(),
            can_start: false,
            ..sheet
        },
        "another-page" => SheetUiState {
            label: "Scan from the glass".into(),
            another_page: true,
            pages: 2,
            ..SheetUiState::default()
        },
        _ => return None,
    })
}
