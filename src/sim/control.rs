//! Test and demo controls of the simulated Entra beyond approving codes: the tenant's policies
//! (app assignment, Conditional Access, security defaults, consent, public client flows), faults
//! (forced `slow_down`, redirects, gateway errors, lost device codes, network outage), and records of what
//! happened (poll times, dropped connections, every token issued).

use tokio::time::Instant;

use super::state::{CodeStatus, EndpointFault, IssuedToken, SignInPolicy, SimEndpoint};
use super::SimCloud;

impl SimCloud {
    /// Sets (or clears) how sign-ins of `oid` end once approved. False if there is no such user.
    pub fn set_sign_in_policy(&self, oid: &str, policy: Option<SignInPolicy>) -> bool {
        let mut state = self.shared.state();
        if state.user(oid).is_none() {
            return false;
        }
        match policy {
            Some(p) => state.policies.insert(oid.to_string(), p),
            None => state.policies.remove(oid),
        };
        true
    }

    /// The app registration's "Allow public client flows" switch (on by default).
    pub fn set_public_client_flows(&self, allowed: bool) {
        self.shared.state().app.public_client_flows = allowed;
    }

    /// The enterprise application's "Assignment required?" switch (off by default).
    pub fn set_assignment_required(&self, required: bool) {
        self.shared.state().app.assignment_required = required;
    }

    /// Assigns `oid` to the kiosk app (matters when assignment is required).
    pub fn assign_user(&self, oid: &str) {
        self.shared.state().app.assigned.insert(oid.to_string());
    }

    /// Withdraws the tenant's consent for one delegated permission (e.g. `Files.ReadWrite`):
    /// sign-ins that request it then fail with AADSTS65001.
    pub fn withhold_consent(&self, scope: &str) {
        self.shared
            .state()
            .app
            .unconsented_scopes
            .push(scope.to_string());
    }

    /// Grants the tenant's consent for `scope` again (undoes [`SimCloud::withhold_consent`]).
    pub fn grant_consent(&self, scope: &str) {
        self.shared
            .state()
            .app
            .unconsented_scopes
            .retain(|s| !s.eq_ignore_ascii_case(scope));
    }

    /// Answers the next `polls` device-code polls with `slow_down` (and adds 5 s to the code's
    /// interval each time), whatever their timing.
    pub fn force_slow_down(&self, polls: u32) {
        self.shared.state().forced_slow_downs += polls;
    }

    /// Answers the next request to `endpoint` with a 307 redirect to itself.
    pub fn redirect_next(&self, endpoint: SimEndpoint) {
        self.shared
            .state()
            .endpoint_faults
            .push_back((endpoint, EndpointFault::Redirect));
    }

    /// Answers the next request to `endpoint` with `status` (502, 503, 504...) and an HTML page
    /// instead of Entra's JSON, as a failing gateway in front of Entra would.
    pub fn gateway_error_next(&self, endpoint: SimEndpoint, status: u16) {
        self.shared
            .state()
            .endpoint_faults
            .push_back((endpoint, EndpointFault::Gateway(status)));
    }

    /// Answers the next request to `endpoint` with Entra's JSON error body for `error` and
    /// AADSTS `code` (e.g. `interaction_required` 50076, `invalid_client` 7000218).
    pub fn oauth_error_next(&self, endpoint: SimEndpoint, error: &'static str, code: u32) {
        self.shared
            .state()
            .endpoint_faults
            .push_back((endpoint, EndpointFault::OAuth { error, code }));
    }

    /// Answers the next `count` token requests with HTTP 429 and `Retry-After: retry_after`, as
    /// Entra does when an app registration is throttled.
    pub fn throttle_token_endpoint(&self, count: usize, retry_after: std::time::Duration) {
        let mut state = self.shared.state();
        for _ in 0..count {
            state
                .endpoint_faults
                .push_back((SimEndpoint::Token, EndpointFault::Throttled(retry_after)));
        }
    }

    /// Makes the next refresh grant answer with tokens (ID token included, validly signed) of
    /// `oid` instead of the grant's own user.
    pub fn next_refresh_as(&self, oid: &str) {
        self.shared.state().next_refresh_as = Some(oid.to_string());
    }

    /// Forgets every pending device code, as if Entra lost them: polls for them then fail with
    /// `bad_verification_code`. Returns how many were forgotten.
    pub fn forget_pending_codes(&self) -> usize {
        let mut state = self.shared.state();
        let before = state.device_codes.len();
        state
            .device_codes
            .retain(|c| c.status != CodeStatus::Pending);
        before - state.device_codes.len()
    }

    /// Tokio time of every device-code poll so far, oldest first.
    pub fn device_code_poll_times(&self) -> Vec<Instant> {
        self.shared.state().poll_times.clone()
    }

    /// Every token issued so far, in clear (tests search the kiosk's files and logs for them).
    pub fn issued_tokens(&self) -> Vec<IssuedToken> {
        self.shared.state().issued.clone()
    }

    /// Waits (without a timer) until clients have polled for device codes `count` times in all.
    pub async fn wait_for_polls(&self, count: usize) {
        loop {
            let notify = self.shared.state().poll_notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a poll between check and await is not missed.
            notified.as_mut().enable();
            if self.shared.state().poll_times.len() >= count {
                return;
            }
            notified.await;
        }
    }

    /// Takes the network down now (every connection, new or kept alive, is reset without an
    /// answer) or brings it back.
    pub fn set_network_down(&self, down: bool) {
        self.shared.state().outage = down.then(|| (Instant::now(), None));
        tracing::info!(down, "sim: network outage switched");
    }

    /// Takes the network down from `from` until `until` (tokio time), without anyone having to
    /// be awake at those moments: connections are judged by the time they arrive.
    pub fn schedule_network_outage(&self, from: Instant, until: Instant) {
        self.shared.state().outage = Some((from, Some(until)));
    }

    /// Tokio time of every connection reset during an outage, oldest first.
    pub fn dropped_connection_times(&self) -> Vec<Instant> {
        self.shared.state().dropped_connections.clone()
    }
}
