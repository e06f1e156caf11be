//! The whole window's side of the controller, for the panel binary and the UI tests alike: a
//! kiosk view becomes the panel's, the service menu's and the scan sheet's UI states, applied
//! together on the UI thread, and the window's three command callbacks go to the controller.

use super::controller::ControllerHandle;
use super::{service_bridge, sheet_bridge, ui_bridge};
use crate::kiosk::View;
use crate::readers::wedge::WedgeSettings;
use crate::ui::scan_sheet::SheetUiState;
use crate::ui::service::ServiceUiState;
use crate::ui::UiState;
use crate::MainWindow;

/// What one view shows on the window. Made where the view is (any thread; it holds no Slint
/// types), applied on the UI thread.
pub struct WindowState {
    panel: UiState,
    service: Option<ServiceUiState>,
    sheet: Option<SheetUiState>,
}

impl WindowState {
    /// The window's state for `view` on the panel called `device_name`.
    pub fn of(view: &View, device_name: &str, demo: bool) -> Self {
        WindowState {
            panel: ui_bridge::ui_state(view, device_name, demo),
            service: view
                .service
                .as_ref()
                .map(|s| service_bridge::service_ui_state(s, view.language)),
            sheet: view.sheet.as_ref().map(sheet_bridge::sheet_ui_state),
        }
    }

    /// Pushes the state into `window`. The service menu and the sheet go first: the panel's
    /// page switch then shows them already filled in.
    pub fn apply(&self, window: &MainWindow) {
        if let Some(service) = &self.service {
            crate::ui::service::apply(window, service);
        }
        if let Some(sheet) = &self.sheet {
            crate::ui::scan_sheet::apply(window, sheet);
        }
        crate::ui::apply(window, &self.panel);
    }
}

/// Connects the window's commands (panel, service menu, scan sheet) to the controller.
/// `idle_keys`: how keys typed on the idle page are decoded as badges, `None` to ignore them.
pub fn bind(window: &MainWindow, handle: &ControllerHandle, idle_keys: Option<WedgeSettings>) {
    crate::ui::bind(window, ui_bridge::command_sink(handle.clone(), idle_keys));
    crate::ui::service::bind(window, service_bridge::service_sink(handle.clone()));
    crate::ui::scan_sheet::bind(window, sheet_bridge::sheet_sink(handle.clone()));
}
