//! Card readers: every source emits the same CardRead event.
