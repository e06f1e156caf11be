//! The scan settings sheet and the "Another page?" question: pure state and rules, no I/O.
//!
//! Tapping a workflow tile asks the controller for what the sheet needs ([`SheetEffect::Prepare`]:
//! the workflow's defaults, the scanner's real abilities, the user's folders and the file name as
//! the template renders it). The answer ([`SheetEvent::Ready`]) becomes a [`ScanSheet`] that
//! offers only what both the workflow allows and the device can do, with the workflow's defaults
//! preselected (snapped to the nearest offered value when the device cannot do the default).
//! **Start** hands the chosen [`JobSettings`] over ([`SheetEffect::Start`]); a `quick` workflow
//! skips all this and starts with its defaults.
//!
//! Flatbed jobs with `more_pages` ask "Another page?" after each page ([`SheetScreen::AnotherPage`]);
//! the controller keeps the PDF open meanwhile and grows it page by page.
//!
//! Problems are codes ([`SheetProblem`], [`NameProblem`]) that the UI turns into translated text.

use serde::{Deserialize, Serialize};

use super::machine::{Effect, Kiosk, Screen, SignOutReason};
use crate::scan::caps::ScannerCaps;
use crate::scan::{ColorMode, PageSize, ScanOptions, ScanSource};

/// Longest file name the user may type (without ".pdf"); SharePoint allows 255 in all.
pub const MAX_NAME_CHARS: usize = 120;

/// Page sizes in the order the sheet shows them.
const PAGE_SIZES: [PageSize; 4] = [
    PageSize::A4,
    PageSize::Letter,
    PageSize::Legal,
    PageSize::A5,
];
/// Colour modes in the order the sheet shows them.
const COLORS: [ColorMode; 3] = [ColorMode::Color, ColorMode::Gray, ColorMode::BlackWhite];

/// One- or two-sided originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sides {
    One,
    Two,
}

/// What a job scans with, as chosen on the sheet (or a quick workflow's defaults); recorded
/// with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSettings {
    pub sides: Sides,
    pub color: ColorMode,
    pub dpi: u32,
    pub page_size: PageSize,
    /// Where the paper is, duplex included (follows `sides` for the feeder).
    pub source: ScanSource,
    /// The folder picked from the workflow's `folder_attribute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// The name the user typed (with ".pdf"); `None` = the workflow's template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Flatbed: ask "Another page?" after each page.
    #[serde(default)]
    pub more_pages: bool,
}

impl JobSettings {
    pub fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            dpi: self.dpi,
            color: self.color,
            source: self.source,
            page_size: self.page_size,
        }
    }
}

/// A workflow as the sheet needs it, built from the config and the user's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetSpec {
    pub workflow_id: String,
    pub label: String,
    pub source: ScanSource,
    pub color: ColorMode,
    pub dpi: u32,
    pub page_size: PageSize,
    /// The resolutions the workflow allows (`resolutions`).
    pub resolutions: Vec<u32>,
    pub allow_rename: bool,
    pub more_pages: bool,
    /// The file name as the template renders it now (with ".pdf"), or why it cannot be.
    pub file_name: Result<String, String>,
    /// The user's folders, when the workflow takes its folder from an attribute.
    pub folders: Option<Vec<String>>,
}

/// Why Start is not possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetProblem {
    /// The scanner could not be asked what it can do (off, unplugged, busy).
    ScannerUnavailable,
    /// The workflow's paper source is one the scanner does not have.
    NoSource,
    /// None of the workflow's resolutions is one the scanner has.
    NoResolution,
    /// The scanner has none of the colour modes.
    NoColor,
    /// The workflow takes its folder from the directory and this user has none listed.
    NoFolders,
    /// The template cannot make a file name for this user (the administrator must fix it).
    BadTemplate,
}

/// What is wrong with a typed file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong,
    /// A character OneDrive and SharePoint refuse (`" * : < > ? / \ |`).
    Forbidden,
    /// A name Windows and SharePoint reserve (`CON`, `NUL`, `COM1`, `~$…`, `_vti_`).
    Reserved,
}

/// The sheet while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSheet {
    pub workflow_id: String,
    pub label: String,
    /// Sides can be chosen: the workflow uses the feeder and the scanner has duplex.
    pub duplex_offered: bool,
    pub colors: Vec<ColorMode>,
    pub resolutions: Vec<u32>,
    /// Empty when no standard size fits the scan area: the workflow's size is scanned, cut to
    /// what the glass holds.
    pub page_sizes: Vec<PageSize>,
    pub folders: Option<Vec<String>>,
    pub allow_rename: bool,
    /// The template's name (with ".pdf").
    pub default_name: String,
    pub choice: JobSettings,
    /// The name being typed while the keyboard is open.
    pub editing: Option<String>,
    pub name_problem: Option<NameProblem>,
    pub problem: Option<SheetProblem>,
}

/// The sheet's screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetScreen {
    /// Waiting for [`SheetEvent::Ready`].
    Loading {
        workflow_id: String,
        label: String,
    },
    Open(Box<ScanSheet>),
    /// A flatbed page is in: scan another or finish the document.
    AnotherPage {
        workflow: String,
        pages: u32,
    },
}

/// Input for the sheet and the "Another page?" question.
#[derive(Debug)]
pub enum SheetEvent {
    /// Home: a workflow tile was tapped.
    Open {
        id: String,
    },
    /// Answer to [`SheetEffect::Prepare`]; `caps` is `None` when the scanner did not answer.
    Ready {
        spec: Box<SheetSpec>,
        caps: Option<ScannerCaps>,
    },
    Sides(Sides),
    Color(ColorMode),
    Dpi(u32),
    PageSize(PageSize),
    Folder(String),
    EditName,
    NameKey(String),
    NameBackspace,
    NameDone,
    NameCancel,
    Start,
    Cancel,
    /// From the job: `pages` flatbed pages are in the document; ask for another.
    AskAnotherPage {
        pages: u32,
    },
    /// The user's answer: `true` = scan another page.
    AnotherPage(bool),
}

/// What the controller must do for the sheet.
#[derive(Debug)]
pub enum SheetEffect {
    /// Gather what the sheet needs; answer with [`SheetEvent::Ready`].
    Prepare { oid: String, workflow_id: String },
    /// Scan with `settings`.
    Start {
        oid: String,
        workflow_id: String,
        settings: JobSettings,
    },
    /// The answer to "Another page?" for the running job.
    MorePages(bool),
}

impl ScanSheet {
    /// The sheet for `spec` on a scanner with `caps` (`None`: the scanner did not answer).
    pub fn new(spec: SheetSpec, caps: Option<&ScannerCaps>) -> Self {
        let unknown = ScannerCaps::unrestricted();
        let c = caps.unwrap_or(&unknown);
        let feeder = spec.source != ScanSource::Flatbed;
        let duplex_offered =
            feeder && c.has_source(ScanSource::Adf) && c.has_source(ScanSource::AdfDuplex);
        let source = match spec.source {
            ScanSource::AdfDuplex if !c.has_source(ScanSource::AdfDuplex) => ScanSource::Adf,
            ScanSource::Adf if !c.has_source(ScanSource::Adf) => ScanSource::AdfDuplex,
            s => s,
        };
        let colors = c.colors_of(&COLORS);
        let resolutions = c.resolutions_of(&spec.resolutions);
        let page_sizes = c.page_sizes(&PAGE_SIZES);
        let problem = if caps.is_none() {
            Some(SheetProblem::ScannerUnavailable)
        } else if !c.has_source(source) {
            Some(SheetProblem::NoSource)
        } else if resolutions.is_empty() {
            Some(SheetProblem::NoResolution)
        } else if colors.is_empty() {
            Some(SheetProblem::NoColor)
        } else if spec.folders.as_ref().is_some_and(Vec::is_empty) {
            Some(SheetProblem::NoFolders)
        } else if spec.file_name.is_err() {
            Some(SheetProblem::BadTemplate)
        } else {
            None
        };
        let color = if colors.contains(&spec.color) {
            spec.color
        } else {
            colors.first().copied().unwrap_or(spec.color)
        };
        let dpi = resolutions
            .iter()
            .copied()
            .min_by_key(|d| d.abs_diff(spec.dpi))
            .unwrap_or(spec.dpi);
        let page_size = if page_sizes.is_empty() || page_sizes.contains(&spec.page_size) {
            spec.page_size
        } else {
            page_sizes[0]
        };
        // One folder needs no choosing; several wait for the user's pick.
        let folder = spec
            .folders
            .as_ref()
            .filter(|f| f.len() == 1)
            .and_then(|f| f.first().cloned());
        ScanSheet {
            workflow_id: spec.workflow_id,
            label: spec.label,
            duplex_offered,
            colors,
            resolutions,
            page_sizes,
            folders: spec.folders,
            allow_rename: spec.allow_rename,
            default_name: spec.file_name.unwrap_or_default(),
            choice: JobSettings {
                sides: if source == ScanSource::AdfDuplex {
                    Sides::Two
                } else {
                    Sides::One
                },
                color,
                dpi,
                page_size,
                source,
                folder,
                file_name: None,
                more_pages: spec.more_pages && source == ScanSource::Flatbed,
            },
            editing: None,
            name_problem: None,
            problem,
        }
    }

    /// The file name the scan will get.
    pub fn file_name(&self) -> &str {
        self.choice
            .file_name
            .as_deref()
            .unwrap_or(&self.default_name)
    }

    /// Start is possible: nothing wrong, a folder picked where one must be, keyboard closed.
    pub fn can_start(&self) -> bool {
        self.problem.is_none()
            && self.editing.is_none()
            && (self.folders.is_none() || self.choice.folder.is_some())
    }

    /// Applies one change the user made; values the sheet does not offer are ignored.
    fn change(&mut self, event: SheetEvent) {
        let c = &mut self.choice;
        match event {
            SheetEvent::Sides(s) if self.duplex_offered => {
                c.sides = s;
                c.source = match s {
                    Sides::One => ScanSource::Adf,
                    Sides::Two => ScanSource::AdfDuplex,
                };
            }
            SheetEvent::Color(m) if self.colors.contains(&m) => c.color = m,
            SheetEvent::Dpi(d) if self.resolutions.contains(&d) => c.dpi = d,
            SheetEvent::PageSize(p) if self.page_sizes.contains(&p) => c.page_size = p,
            SheetEvent::Folder(f) if self.folders.as_ref().is_some_and(|l| l.contains(&f)) => {
                c.folder = Some(f)
            }
            SheetEvent::EditName if self.allow_rename => {
                let current = self.file_name();
                let stem = strip_pdf(current).to_string();
                self.editing = Some(stem);
                self.name_problem = None;
            }
            SheetEvent::NameKey(text) => {
                if let Some(draft) = &mut self.editing {
                    if draft.chars().count() + text.chars().count() <= MAX_NAME_CHARS {
                        draft.push_str(&text);
                    }
                    self.name_problem = None;
                }
            }
            SheetEvent::NameBackspace => {
                if let Some(draft) = &mut self.editing {
                    draft.pop();
                    self.name_problem = None;
                }
            }
            SheetEvent::NameDone => {
                if let Some(draft) = &self.editing {
                    match check_name(draft) {
                        Ok(name) => {
                            self.choice.file_name = (name != self.default_name).then_some(name);
                            self.editing = None;
                        }
                        Err(p) => self.name_problem = Some(p),
                    }
                }
            }
            SheetEvent::NameCancel => {
                self.editing = None;
                self.name_problem = None;
            }
            _ => {}
        }
    }
}

fn strip_pdf(name: &str) -> &str {
    match name.len().checked_sub(4) {
        Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".pdf") => &name[..i],
        _ => name,
    }
}

/// Checks a typed file name and returns it with ".pdf" (typed or not). Leading and trailing
/// spaces and dots are dropped, as OneDrive would refuse them.
pub fn check_name(typed: &str) -> Result<String, NameProblem> {
    let stem = strip_pdf(typed.trim()).trim_matches(|c: char| c == '.' || c.is_whitespace());
    if stem.is_empty() {
        return Err(NameProblem::Empty);
    }
    if stem.chars().count() > MAX_NAME_CHARS {
        return Err(NameProblem::TooLong);
    }
    if stem.chars().any(|c| {
        matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '/' | '\\' | '|') || c.is_control()
    }) {
        return Err(NameProblem::Forbidden);
    }
    let upper = stem.to_ascii_uppercase();
    let device = matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit());
    if device || stem.starts_with('~') || upper.contains("_VTI_") {
        return Err(NameProblem::Reserved);
    }
    Ok(format!("{stem}.pdf"))
}

impl Kiosk {
    /// Home: a tile was tapped. A quick workflow starts at once; any other opens the sheet.
    pub(crate) fn run_workflow(
        &mut self,
        id: String,
        quick_only: bool,
        now: std::time::Instant,
    ) -> Vec<Effect> {
        let Some(user) = &self.session else {
            return Vec::new();
        };
        let Some(wf) = user.workflows.iter().find(|w| w.id == id) else {
            self.notify(
                crate::i18n::Msg::new("That workflow is not available to you."),
                true,
                now,
            );
            return Vec::new();
        };
        let oid = user.oid.clone();
        if quick_only || wf.quick {
            let effect = Effect::StartWorkflow {
                oid,
                workflow_id: wf.id.clone(),
            };
            self.screen = Screen::Scanning {
                workflow: wf.label.clone(),
                pages: 0,
            };
            return vec![effect];
        }
        self.screen = Screen::Sheet(SheetScreen::Loading {
            workflow_id: wf.id.clone(),
            label: wf.label.clone(),
        });
        vec![Effect::Sheet(SheetEffect::Prepare {
            oid,
            workflow_id: wf.id.clone(),
        })]
    }

    /// Every [`SheetEvent`], on whichever screen it arrives.
    pub(crate) fn on_sheet(&mut self, event: SheetEvent, now: std::time::Instant) -> Vec<Effect> {
        match (&mut self.screen, event) {
            (Screen::Home, SheetEvent::Open { id }) => self.run_workflow(id, false, now),
            (
                Screen::Sheet(SheetScreen::Loading { workflow_id, .. }),
                SheetEvent::Ready { spec, caps },
            ) if *workflow_id == spec.workflow_id => {
                self.screen = Screen::Sheet(SheetScreen::Open(Box::new(ScanSheet::new(
                    *spec,
                    caps.as_ref(),
                ))));
                Vec::new()
            }
            (
                Screen::Sheet(SheetScreen::Loading { .. } | SheetScreen::Open(_)),
                SheetEvent::Cancel,
            ) => {
                self.screen = Screen::Home;
                Vec::new()
            }
            (Screen::Sheet(SheetScreen::Open(sheet)), SheetEvent::Start) => {
                if !sheet.can_start() {
                    return Vec::new();
                }
                let Some(user) = &self.session else {
                    return Vec::new();
                };
                let effect = Effect::Sheet(SheetEffect::Start {
                    oid: user.oid.clone(),
                    workflow_id: sheet.workflow_id.clone(),
                    settings: sheet.choice.clone(),
                });
                self.screen = Screen::Scanning {
                    workflow: sheet.label.clone(),
                    pages: 0,
                };
                vec![effect]
            }
            (Screen::Sheet(SheetScreen::Open(sheet)), other) => {
                sheet.change(other);
                Vec::new()
            }
            (Screen::Scanning { workflow, .. }, SheetEvent::AskAnotherPage { pages }) => {
                let workflow = workflow.clone();
                self.screen = Screen::Sheet(SheetScreen::AnotherPage { workflow, pages });
                Vec::new()
            }
            // Cancel on "Another page?": the job drops what it has, nothing is sent.
            (Screen::Sheet(SheetScreen::AnotherPage { workflow, pages }), SheetEvent::Cancel) => {
                self.screen = Screen::Scanning {
                    workflow: workflow.clone(),
                    pages: *pages,
                };
                vec![
                    Effect::CancelScan,
                    Effect::Sheet(SheetEffect::MorePages(false)),
                ]
            }
            (
                Screen::Sheet(SheetScreen::AnotherPage { workflow, pages }),
                SheetEvent::AnotherPage(more),
            ) => {
                self.screen = Screen::Scanning {
                    workflow: workflow.clone(),
                    pages: *pages,
                };
                vec![Effect::Sheet(SheetEffect::MorePages(more))]
            }
            _ => Vec::new(),
        }
    }

    /// The clock on the sheet's screens: an abandoned sheet signs out like home does; an
    /// unanswered "Another page?" finishes the document with the pages so far, so nothing
    /// scanned is lost and the session then ends as usual.
    pub(crate) fn sheet_tick(&mut self, now: std::time::Instant) -> Vec<Effect> {
        if self.idle_for(now) < self.settings.inactivity_timeout {
            return Vec::new();
        }
        match &self.screen {
            Screen::Sheet(SheetScreen::AnotherPage { workflow, pages }) => {
                self.screen = Screen::Scanning {
                    workflow: workflow.clone(),
                    pages: *pages,
                };
                vec![Effect::Sheet(SheetEffect::MorePages(false))]
            }
            Screen::Sheet(_) => self.sign_out(SignOutReason::Inactivity, now),
            _ => Vec::new(),
        }
    }
}

mod view;
pub use view::SheetView;

#[cfg(test)]
mod tests;
