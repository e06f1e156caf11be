//! The kiosk session state machine: pure, events in, effects out.
