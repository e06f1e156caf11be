//! Glue: runs the state machine's effects on adapters and feeds results back as events.
