//! Test and demo controls of the simulated directory and app registration: groups and members,
//! user attributes, expiring every delta token (410), certificates, client secrets and
//! application permissions; and the demo tenant's kiosk group.

use serde_json::Value;

use super::directory::{DirectoryState, SimGroupState};
use super::{SimCloud, SimError, SimUser};

/// Object id of the demo tenant's "Kiosk users" group.
pub const DEMO_KIOSK_GROUP: &str = "7e1d2c3b-4a59-4687-9b0a-1c2d3e4f5a6b";

/// A directory group at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimGroup {
    pub id: String,
    pub display_name: String,
    /// User object ids.
    pub members: Vec<String>,
    /// Nested group object ids.
    pub groups: Vec<String>,
}

impl SimGroup {
    pub fn new(id: &str, display_name: &str) -> Self {
        SimGroup {
            id: id.to_string(),
            display_name: display_name.to_string(),
            members: Vec::new(),
            groups: Vec::new(),
        }
    }
}

pub(crate) fn initial_directory(
    users: &[SimUser],
    groups: &[SimGroup],
    attributes: &[(String, String, Value)],
    page_size: usize,
) -> DirectoryState {
    let mut d = DirectoryState::new(page_size);
    for (oid, name, value) in attributes {
        d.set_attribute(oid, name, value.clone());
    }
    for u in users {
        d.put_user(u);
    }
    for g in groups {
        d.groups.insert(
            g.id.clone(),
            SimGroupState {
                display_name: g.display_name.clone(),
                ..Default::default()
            },
        );
    }
    for g in groups {
        for m in &g.members {
            d.set_member(&g.id, m, false, true);
        }
        for n in &g.groups {
            d.set_member(&g.id, n, true, true);
        }
    }
    d
}

/// The demo's directory: `count` more users (`user0001@contoso.example`...) in the kiosk group
/// with Alex and Megan; nine in ten have a badge in `extensionAttribute3`, the hex number
/// `04D0` + four digits of their index (`04D00001`), which a person types at the demo's idle page.
pub fn demo_directory(
    count: usize,
    domain: &str,
) -> (Vec<SimUser>, SimGroup, Vec<(String, String, Value)>) {
    let mut users = Vec::with_capacity(count);
    let mut attrs = Vec::new();
    let mut group = SimGroup::new(DEMO_KIOSK_GROUP, "Kiosk users");
    let departments = ["Finance", "Sales", "Operations", "Legal", "Engineering"];
    for i in 1..=count {
        let digest = super::state::sha256_hex(&format!("demo-user-{i}"));
        let oid = format!(
            "{}-{}-4{}-8{}-{}",
            &digest[..8],
            &digest[8..12],
            &digest[13..16],
            &digest[17..20],
            &digest[20..32]
        );
        let upn = format!("user{i:04}@{domain}");
        let user = SimUser::new(&upn, &format!("Demo User {i:04}")).with_oid(&oid);
        if i % 10 != 0 {
            attrs.push((
                oid.clone(),
                "onPremisesExtensionAttributes.extensionAttribute3".to_string(),
                Value::from(format!("04d0{i:04}")),
            ));
        }
        attrs.push((
            oid.clone(),
            "department".to_string(),
            Value::from(departments[i % departments.len()]),
        ));
        group.members.push(oid);
        users.push(user);
    }
    (users, group, attrs)
}

impl SimCloud {
    /// Uploads a certificate (PEM) to the app registration; returns its `x5t#S256`.
    pub fn register_app_certificate(&self, pem: &str) -> Result<String, SimError> {
        let (thumb, key) = super::app_auth::parse_certificate(pem)?;
        let mut auth = self.shared.app_auth();
        auth.certificates.retain(|(t, _)| *t != thumb);
        auth.certificates.push((thumb.clone(), key));
        Ok(thumb)
    }

    /// Removes every certificate of the app registration.
    pub fn remove_app_certificates(&self) {
        self.shared.app_auth().certificates.clear();
    }

    /// Adds a client secret to the app registration.
    pub fn register_client_secret(&self, secret: &str) {
        self.shared
            .app_auth()
            .secret_hashes
            .push(super::state::sha256_hex(secret));
    }

    /// The application permissions an admin consented to (e.g. `User.Read.All`).
    pub fn set_app_permissions(&self, permissions: &[&str]) {
        self.shared.app_auth().permissions = permissions.iter().map(|p| p.to_string()).collect();
    }

    /// App-only tokens issued so far.
    pub fn app_token_grants(&self) -> u64 {
        self.shared.app_auth().grants
    }

    /// Requests to `/users/delta` and `/groups/delta` so far.
    pub fn delta_requests(&self) -> (u64, u64) {
        let d = self.shared.directory();
        (d.users_delta_requests, d.groups_delta_requests)
    }

    /// Soft-deletes a user (the portal's *Delete*, restorable for 30 days): the users delta
    /// reports `@removed` with reason `changed`, sign-ins fail as for a deleted user.
    pub fn soft_delete_user(&self, oid: &str) -> bool {
        let mut state = self.shared.state();
        let before = state.users.len();
        state.users.retain(|u| u.oid != oid);
        let removed = state.users.len() != before;
        drop(state);
        if removed {
            self.shared.directory().delete_user(oid, "changed");
        }
        removed
    }

    /// Successful `PATCH /users/{id}` so far (card write-backs).
    pub fn user_patches(&self) -> u64 {
        self.shared.directory().user_patches
    }

    /// The raw value of a directory attribute (`a.b` for a nested one), `None` when unset.
    pub fn user_attribute(&self, oid: &str, name: &str) -> Option<Value> {
        let d = self.shared.directory();
        let attrs = d.attributes.get(oid)?;
        let v = match name.split_once('.') {
            Some((outer, inner)) => attrs.get(outer)?.get(inner)?,
            None => attrs.get(name)?,
        };
        (!v.is_null()).then(|| v.clone())
    }

    /// Creates an empty group.
    pub fn add_group(&self, id: &str, display_name: &str) {
        let mut d = self.shared.directory();
        d.groups.insert(
            id.to_string(),
            SimGroupState {
                display_name: display_name.to_string(),
                ..Default::default()
            },
        );
    }

    /// Adds a user (or, with `is_group`, a nested group) to a group.
    pub fn add_group_member(&self, group: &str, member: &str, is_group: bool) {
        self.shared
            .directory()
            .set_member(group, member, is_group, true);
    }

    /// Removes a member from a group.
    pub fn remove_group_member(&self, group: &str, member: &str) {
        let mut d = self.shared.directory();
        let is_group = d
            .groups
            .get(group)
            .and_then(|g| g.members.get(member))
            .is_some_and(|m| m.is_group);
        d.set_member(group, member, is_group, false);
    }

    /// Sets a directory attribute of a user (`department`,
    /// `onPremisesExtensionAttributes.extensionAttribute3`, `displayName`, ...); `Value::Null`
    /// clears it. False if there is no such user.
    pub fn set_user_attribute(&self, oid: &str, name: &str, value: Value) -> bool {
        let Some(user) = self.shared.state().user(oid).cloned() else {
            return false;
        };
        let mut d = self.shared.directory();
        d.set_attribute(oid, name, value);
        d.put_user(&user);
        true
    }

    /// Adds many users at once (benchmarks): to Entra and the directory, with attributes.
    pub fn add_users_bulk(&self, users: Vec<SimUser>, attributes: &[(String, String, Value)]) {
        {
            let mut d = self.shared.directory();
            for (oid, name, value) in attributes {
                d.set_attribute(oid, name, value.clone());
            }
            for u in &users {
                d.put_user(u);
            }
        }
        self.shared.state().users.extend(users);
    }

    /// Every delta token issued so far answers `410 Gone` from now on.
    pub fn expire_delta_tokens(&self) {
        self.shared.directory().epoch += 1;
    }
}

impl SimCloud {
    /// Deletes a group: its delta answers `@removed` and its members leave the scope.
    pub fn delete_group(&self, id: &str) -> bool {
        let mut d = self.shared.directory();
        if !d.groups.contains_key(id) {
            return false;
        }
        d.version += 1;
        let version = d.version;
        if let Some(g) = d.groups.get_mut(id) {
            g.deleted = true;
            g.version = version;
        }
        true
    }
}
