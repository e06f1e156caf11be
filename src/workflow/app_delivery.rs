//! Jobs delivered with the panel's application identity (`delivery = "app"`): what the job row
//! records about it, and the plain sentences for what the app was not granted.
//!
//! The job's `destination` JSON carries `"delivery": "app"` and the item `description` (who
//! scanned it: the Graph author will be the application). Recording it in the row, not reading
//! it from the config, means a restart resumes the upload with the same identity even if the
//! workflow changed meanwhile. App deliveries always use an upload session, the only upload
//! that can set the description when the item is created.

use serde_json::Value;

/// What a job delivered by the app carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppDelivery {
    /// The drive item's description, e.g. `Scanned by Ann Visitor (ann@example.com) on MFP-2`.
    pub description: String,
}

/// Marks a destination JSON (from [`super::outbox::JobDestination::to_json`]) as delivered by
/// the app, with the item description.
pub fn mark_app(mut destination: Value, description: &str) -> Value {
    if let Some(obj) = destination.as_object_mut() {
        obj.insert("delivery".into(), Value::from("app"));
        obj.insert("description".into(), Value::from(description));
    }
    destination
}

/// The app delivery of a job, if its row says so. Rows without the key are the user's own
/// deliveries (every job written before app delivery existed).
pub fn of(destination: &Value) -> Option<AppDelivery> {
    (destination.get("delivery").and_then(Value::as_str) == Some("app")).then(|| AppDelivery {
        description: destination
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// The description written on an app-delivered item.
pub fn describe(display_name: &str, upn: &str, device: &str) -> String {
    format!("Scanned by {display_name} ({upn}) on {device}")
}

/// How every "a grant is missing" failure starts (the panel words those for the user).
pub const DENIED_PREFIX: &str = "the panel's app may not write to";

/// Why the app could not write to a SharePoint site (Graph said 403), in an admin's words.
pub fn site_denied(site: &str) -> String {
    format!(
        "the panel's app may not write to the site {site}: grant it Sites.Selected and give it \
         write access to that site (README: \"Delivery with the panel's application identity\")"
    )
}

/// Why the app could not write to a user's OneDrive (Graph said 403).
pub fn user_drive_denied() -> String {
    "the panel's app may not write to users' OneDrive: it needs the application permission \
     Files.ReadWrite.All with admin consent"
        .into()
}

/// The app credential is missing or unusable.
pub fn no_credential(detail: &str) -> String {
    format!("the panel's app credential is not usable ({detail}); run `mfp-kiosk doctor`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::outbox::JobDestination;

    #[test]
    fn app_marking_round_trips_and_leaves_the_destination_readable() {
        let d = JobDestination::SharePoint {
            site: "contoso.sharepoint.com:/sites/Visitors".into(),
            library: "Documents".into(),
        };
        assert_eq!(of(&d.to_json()), None, "a plain job is the user's own");
        let marked = mark_app(d.to_json(), "Scanned by Ann (ann@x.com) on P1");
        assert_eq!(JobDestination::from_json(&marked).unwrap(), d);
        assert_eq!(
            of(&marked),
            Some(AppDelivery {
                description: "Scanned by Ann (ann@x.com) on P1".into()
            })
        );
    }
}
