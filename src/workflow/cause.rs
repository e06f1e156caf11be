//! Why a delivery failed, in words for the walk-up user. The outbox stores the technical
//! error (Graph status and code) with the job; My scans shows one of these plain causes,
//! chosen from it, in the panel's language.

use crate::i18n::Msg;

/// The plain cause of a failed job's stored `error`.
pub fn failure_cause(error: &str) -> Msg {
    let e = error.to_ascii_lowercase();
    if e.contains("revoked") || e.contains("offboard") || e.contains("disabled") {
        Msg::new("your account no longer has access")
    } else if e.contains("404") || e.contains("itemnotfound") || e.contains("not found") {
        Msg::new("the destination folder no longer exists")
    } else if e.contains("403") || e.contains("accessdenied") || e.contains("forbidden") {
        Msg::new("you have no permission to write to the destination folder")
    } else if e.contains("507") || e.contains("quota") || e.contains("insufficientstorage") {
        Msg::new("the destination is full")
    } else if e.contains("413") || e.contains("too large") {
        Msg::new("the file is too large for the destination")
    } else if e.contains("409") || e.contains("nameconflict") || e.contains("conflict") {
        Msg::new("a file with that name already exists")
    } else if e.contains("spool") || e.contains("no such file") {
        Msg::new("the scanned file was lost on the printer")
    } else {
        Msg::new("the destination refused the scan")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_map_to_plain_causes() {
        assert_eq!(
            failure_cause("Graph 404 itemNotFound: The resource could not be found."),
            "the destination folder no longer exists"
        );
        assert_eq!(
            failure_cause("Graph 403 accessDenied"),
            "you have no permission to write to the destination folder"
        );
        assert_eq!(
            failure_cause("507 quotaLimitReached"),
            "the destination is full"
        );
        assert_eq!(
            failure_cause("something odd"),
            "the destination refused the scan"
        );
    }
}
