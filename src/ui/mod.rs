//! Adapters between the Slint globals in ui/api.slint and the app.
