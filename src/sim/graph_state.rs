//! What the simulated Graph remembers beyond users and tokens: SharePoint sites, open upload
//! sessions, committed file hashes, and the test controls (random faults, a planned kill of the
//! client process, expired tokens and sessions).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::drives::{Conflict, DriveRoot};

/// A SharePoint site of the simulated tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSite {
    /// E.g. `contoso.sharepoint.com`.
    pub hostname: String,
    /// Server-relative path, e.g. `/sites/Finance`.
    pub path: String,
    pub display_name: String,
    /// Document library names, e.g. `Documents`.
    pub libraries: Vec<String>,
    /// Object ids of the users who may use the site; `None` = everyone in the tenant.
    pub members: Option<Vec<String>>,
}

impl SimSite {
    /// A site open to everyone, with one library.
    pub fn new(hostname: &str, path: &str, library: &str) -> Self {
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        SimSite {
            hostname: hostname.to_ascii_lowercase(),
            path: format!("/{}", path.trim_matches('/')),
            display_name: name,
            libraries: vec![library.to_string()],
            members: None,
        }
    }

    /// The last path segment: `Finance` for `/sites/Finance`. Files of its libraries land in
    /// `drive_dir/sites/<this>/<library>/`.
    pub fn short_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// `hostname,{collection guid},{web guid}`, stable for a given host and path.
    pub fn id(&self) -> String {
        let h = super::state::sha256_hex(&format!("{}{}", self.hostname, self.path.to_lowercase()));
        let guid = |s: &str| {
            format!(
                "{}-{}-{}-{}-{}",
                &s[..8],
                &s[8..12],
                &s[12..16],
                &s[16..20],
                &s[20..32]
            )
        };
        format!("{},{},{}", self.hostname, guid(&h[..32]), guid(&h[32..64]))
    }

    pub fn allows(&self, oid: &str) -> bool {
        self.members
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == oid))
    }
}

/// When, during a Graph request, a planned kill of the client happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPhase {
    /// The request arrived; nothing of it is carried out.
    BeforeHandling,
    /// Part of the request body arrived; nothing of it is carried out.
    MidBody,
    /// The request was carried out (e.g. the file committed); the answer is lost.
    AfterHandling,
    /// Like `AfterHandling`, but `n` counts only requests that committed a file (a simple PUT
    /// or the last fragment of a session): the most delicate moment for "exactly once".
    AfterCommit,
}

/// Runs `action` (which kills the client) at the `at`-th Graph request after arming.
pub(crate) struct KillPlan {
    pub at: u64,
    pub seen: u64,
    pub phase: KillPhase,
    pub action: Arc<dyn Fn() + Send + Sync>,
}

/// Random failures of Graph requests.
pub(crate) struct Chaos {
    /// Probability that a request fails, 0.0..=1.0.
    pub rate: f64,
    pub rng: StdRng,
}

/// An open upload session.
pub(crate) struct SessionEntry {
    pub secret: String,
    pub drive: DriveRoot,
    pub folders: Vec<String>,
    pub name: String,
    pub conflict: Conflict,
    /// `item.description` of the createUploadSession body.
    pub description: Option<String>,
    pub data: tokio::sync::Mutex<SessionData>,
}

pub(crate) struct SessionData {
    /// Bytes received so far, all contiguous from 0.
    pub received: u64,
    pub total: Option<u64>,
    pub tmp: PathBuf,
    pub expires: Instant,
    /// Set once committed or cancelled: later requests get 404.
    pub closed: bool,
}

/// A test's look at each Graph request before it is handled: method and path.
pub type GraphObserver = std::sync::Arc<dyn Fn(&str, &str) + Send + Sync>;

#[derive(Default)]
pub(crate) struct GraphState {
    pub sites: Vec<SimSite>,
    pub sessions: HashMap<String, Arc<SessionEntry>>,
    pub chaos: Option<Chaos>,
    pub kill: Option<KillPlan>,
    /// Called before every Graph request is handled (see `SimCloud::observe_graph`).
    pub observer: Option<GraphObserver>,
    /// `uti` of every access token presented so far.
    pub seen_tokens: std::collections::HashSet<String>,
    /// `uti` of access tokens refused from now on as expired.
    pub expired_tokens: std::collections::HashSet<String>,
    pub session_lifetime: Duration,
    /// Items per page of a children listing.
    pub page_size: usize,
    /// `Sites.Selected` grants of the app: site id to role (`read`, `write`, `fullcontrol`).
    pub app_site_grants: HashMap<String, String>,
    /// Descriptions given at item creation (upload session `item.description`), by file path.
    pub descriptions: HashMap<std::path::PathBuf, String>,
}
