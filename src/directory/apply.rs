//! Apply: what a directory fact means for the panel, decided in one place for every source of
//! directory changes (the Graph delta sync and the SCIM endpoint). Pure: it takes a
//! [`Candidate`] (the directory's view of a user next to the panel's) and returns the [`Plan`]
//! that [`crate::store::Store::apply_directory_batch`] executes.
//!
//! | directory says | panel has | plan |
//! |---|---|---|
//! | in scope, enabled | nothing | create the user (active; a local account when SCIM says `loginMethod: local`), bind the directory badges |
//! | in scope, enabled | active / needs sign-in | update names and mail; badges in step |
//! | in scope, enabled | revoked | re-enable: active again, directory badge back (PIN and refresh token stay gone) |
//! | disabled, deleted, or out of scope (and in scope or provisioned before) | not revoked | revoke as offboarding does |
//! | out of scope, never provisioned | anything | nothing: a sign-in the directory never managed |
//!
//! Roles and groups: a source that manages them (SCIM groups, [`crate::store::Memberships`])
//! sets them, and the technician flag with them; the Graph sync leaves them to the ID token.
//!
//! Badges: only cards a sync bound (`source = directory`) are ever removed by a sync; a card
//! enrolled on a panel is never touched. A badge number held by another user on this panel, or
//! claimed by two directory users, is a conflict: reported, bound to nobody new.

use chrono::{DateTime, Utc};

use crate::identity::provisioning::{directory_username, ProvisioningRules};
use crate::identity::{UserRecord, UserStatus};
use crate::store::{Candidate, Plan};

/// What [`plan`] needs beyond the candidate.
pub struct ApplyContext<'a> {
    pub rules: &'a ProvisioningRules,
    /// Tenant id recorded on users created from the directory.
    pub tenant_id: &'a str,
    pub now: DateTime<Utc>,
}

/// The reason a user may no longer use the panel, if the directory says so.
fn gone_reason(c: &Candidate) -> Option<&'static str> {
    if c.deleted {
        Some("deleted from the directory")
    } else if !c.dir.enabled {
        Some("account disabled in the directory")
    } else if !c.in_scope {
        Some("no longer a member of the configured groups")
    } else {
        None
    }
}

/// Decides what to do for one user.
pub fn plan(c: &Candidate, ctx: &ApplyContext<'_>) -> Plan {
    let mut p = Plan::default();
    let d = &c.dir;
    if let Some(reason) = gone_reason(c) {
        if let Some(local) = &c.local {
            if local.status != UserStatus::Revoked && (c.managed || c.in_scope) {
                p.revoke = Some(reason.to_string());
                p.changes.push(("revoked", reason.to_string()));
            }
        }
        return p;
    }
    p.mark_managed = !c.managed;
    let user = match &c.local {
        None => {
            let username = match directory_username(ctx.rules, &d.upn, d.mail_nickname.as_deref()) {
                Ok(u) => u,
                Err(e) => {
                    p.mark_managed = false;
                    p.changes.push(("error", e.to_string()));
                    return p;
                }
            };
            // SCIM's `loginMethod: local`: a person without an Entra account, created as
            // `mfp-kiosk local-users add` would (no tenant vouches for them).
            p.local_account = d
                .attrs
                .get("loginMethod")
                .and_then(|v| v.as_str())
                .is_some_and(|m| m == "local");
            let user = UserRecord {
                oid: d.oid.clone(),
                tenant_id: if p.local_account {
                    crate::store::LOCAL_TENANT.to_string()
                } else {
                    ctx.tenant_id.to_ascii_lowercase()
                },
                upn: d.upn.clone(),
                display_name: non_empty(&d.display_name).unwrap_or_else(|| d.upn.clone()),
                mail: d.mail.clone(),
                username,
                roles: d
                    .memberships
                    .as_ref()
                    .map(|m| m.roles.clone())
                    .unwrap_or_default(),
                groups: d
                    .memberships
                    .as_ref()
                    .map(|m| m.groups.clone())
                    .unwrap_or_default(),
                is_technician: d
                    .memberships
                    .as_ref()
                    .is_some_and(|m| is_technician(ctx.rules, &m.roles)),
                status: UserStatus::Active,
                created_at: ctx.now,
                updated_at: ctx.now,
                // The directory vouches for the account now: the offline grace starts here.
                last_online_at: ctx.now,
            };
            p.changes.push((
                "created",
                if p.local_account {
                    "provisioned from the directory as a local account".into()
                } else {
                    "provisioned from the directory".into()
                },
            ));
            user
        }
        Some(local) => {
            let mut user = local.clone();
            let mut fields = Vec::new();
            if local.upn != d.upn {
                user.upn = d.upn.clone();
                fields.push("userPrincipalName");
            }
            let name = non_empty(&d.display_name).unwrap_or_else(|| d.upn.clone());
            if local.display_name != name {
                user.display_name = name;
                fields.push("displayName");
            }
            if local.mail != d.mail {
                user.mail = d.mail.clone();
                fields.push("mail");
            }
            if let Some(m) = &d.memberships {
                let tech = is_technician(ctx.rules, &m.roles);
                if local.roles != m.roles || local.groups != m.groups || local.is_technician != tech
                {
                    user.roles = m.roles.clone();
                    user.groups = m.groups.clone();
                    user.is_technician = tech;
                    fields.push("groups");
                }
            }
            if local.status == UserStatus::Revoked {
                user.status = UserStatus::Active;
                user.last_online_at = ctx.now;
                p.changes.push((
                    "re_enabled",
                    "enabled and in scope again (PIN and Microsoft sign-in must be set up anew)"
                        .into(),
                ));
            } else if !fields.is_empty() {
                p.changes.push(("updated", fields.join(", ")));
            }
            if user != *local {
                user.updated_at = ctx.now;
            }
            user
        }
    };
    let changed = c.local.as_ref() != Some(&user);
    let revoked_before = c
        .local
        .as_ref()
        .is_some_and(|u| u.status == UserStatus::Revoked);
    if changed {
        p.upsert = Some(user);
    }
    plan_cards(c, revoked_before, &mut p);
    p
}

fn plan_cards(c: &Candidate, revoked_before: bool, p: &mut Plan) {
    let wanted: &[([u8; 32], String)] = if c.card_ambiguous { &[] } else { &c.dir.cards };
    // A revoked user has no cards left, whatever the candidate listed before re-enabling.
    let current: &[([u8; 32], String)] = if revoked_before {
        &[]
    } else {
        &c.directory_cards
    };
    for (hash, masked) in current {
        if !wanted.iter().any(|(w, _)| w == hash) {
            p.unbind_cards.push(*hash);
            p.changes.push((
                "card_removed",
                format!("{masked} no longer in the directory"),
            ));
        }
    }
    if c.card_ambiguous {
        for (_, masked) in &c.dir.cards {
            p.changes.push((
                "conflict",
                format!("badge {masked} is claimed by more than one directory user; bound to none"),
            ));
        }
    }
    if let Some(e) = &c.dir.card_error {
        p.changes
            .push(("conflict", format!("badge attribute not usable: {e}")));
    }
    for (hash, masked) in wanted {
        let holder = c
            .card_holders
            .iter()
            .find(|h| h.0 == *hash)
            .filter(|h| !(revoked_before && h.1 == c.dir.oid));
        match holder {
            None => {
                p.bind_cards.push((*hash, masked.clone()));
                p.changes
                    .push(("card_added", format!("{masked} from the directory")));
            }
            Some((_, oid, _, _)) if *oid == c.dir.oid => {}
            Some((_, _, upn, source)) => p.changes.push((
                "conflict",
                format!(
                    "badge {masked} is already bound to {upn} on this panel ({source}); not moved"
                ),
            )),
        }
    }
}

/// A group named like `entra.technician_role` makes its members technicians.
fn is_technician(rules: &ProvisioningRules, roles: &[String]) -> bool {
    !rules.technician_role.is_empty() && roles.contains(&rules.technician_role)
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DirUser;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn cand(enabled: bool, in_scope: bool) -> Candidate {
        Candidate {
            dir: DirUser {
                oid: "o1".into(),
                upn: "adele@contoso.com".into(),
                display_name: "Adele Vance".into(),
                mail: Some("adele@contoso.com".into()),
                mail_nickname: Some("adele".into()),
                enabled,
                attrs: Default::default(),
                cards: vec![([7; 32], "•••• 0042".into())],
                card_error: None,
                memberships: None,
            },
            deleted: false,
            managed: false,
            in_scope,
            card_ambiguous: false,
            local: None,
            directory_cards: Vec::new(),
            card_holders: Vec::new(),
        }
    }

    fn ctx(rules: &ProvisioningRules) -> ApplyContext<'_> {
        ApplyContext {
            rules,
            tenant_id: "T",
            now: now(),
        }
    }

    #[test]
    fn lifecycle() {
        let rules = ProvisioningRules {
            username_prefix: "msp-".into(),
            ..Default::default()
        };
        let c = cand(true, true);
        let p = plan(&c, &ctx(&rules));
        let created = p.upsert.clone().unwrap();
        assert_eq!(created.username, "msp-adele");
        assert_eq!(created.status, UserStatus::Active);
        assert_eq!(p.bind_cards.len(), 1);
        assert_eq!(p.bind_cards[0].0, [7; 32]);
        assert!(p.mark_managed);

        // Provisioned and unchanged: nothing to do.
        let mut c2 = c.clone();
        c2.local = Some(created.clone());
        c2.managed = true;
        c2.card_holders = vec![([7; 32], "o1".into(), c.dir.upn.clone(), "directory".into())];
        c2.directory_cards = vec![([7; 32], "•••• 0042".into())];
        assert_eq!(plan(&c2, &ctx(&rules)), Plan::default());

        // Disabled: revoked; out of scope: revoked; never provisioned and out of scope: nothing.
        let mut off = c2.clone();
        off.dir.enabled = false;
        assert!(plan(&off, &ctx(&rules)).revoke.is_some());
        let mut left = c2.clone();
        left.in_scope = false;
        assert!(plan(&left, &ctx(&rules)).revoke.is_some());
        let mut stranger = c.clone();
        stranger.in_scope = false;
        stranger.local = Some(created.clone());
        assert_eq!(plan(&stranger, &ctx(&rules)), Plan::default());

        // Re-enabled: active again with the directory badge.
        let mut back = c2.clone();
        back.local.as_mut().unwrap().status = UserStatus::Revoked;
        let p = plan(&back, &ctx(&rules));
        assert_eq!(p.upsert.unwrap().status, UserStatus::Active);
        assert_eq!(p.bind_cards.len(), 1, "directory badge comes back");
        assert!(p.unbind_cards.is_empty());
    }

    #[test]
    fn badges_conflict_instead_of_moving() {
        let rules = ProvisioningRules::default();
        let mut c = cand(true, true);
        c.card_holders = vec![(
            [7; 32],
            "o2".into(),
            "megan@contoso.com".into(),
            "panel".into(),
        )];
        let p = plan(&c, &ctx(&rules));
        assert!(p.bind_cards.is_empty());
        assert!(p
            .changes
            .iter()
            .any(|(k, d)| *k == "conflict" && d.contains("megan")));

        let mut amb = cand(true, true);
        amb.card_ambiguous = true;
        amb.directory_cards = vec![([7; 32], "•••• 0042".into())];
        let p = plan(&amb, &ctx(&rules));
        assert!(p.bind_cards.is_empty());
        assert_eq!(p.unbind_cards, vec![[7; 32]]);
    }

    #[test]
    fn every_badge_binds_and_a_dropped_one_goes() {
        let rules = ProvisioningRules::default();
        let mut c = cand(true, true);
        c.local = plan(&c, &ctx(&rules)).upsert;
        c.managed = true;
        c.dir.cards = vec![
            ([7; 32], "•••• 0042".into()),
            ([8; 32], "•••• 0043".into()),
            ([9; 32], "•••• 0044".into()),
        ];
        // 7 is bound already, 6 was bound by an earlier request and is no longer sent, 9 is
        // someone else's enrolled badge.
        c.directory_cards = vec![([7; 32], "•••• 0042".into()), ([6; 32], "•••• 0041".into())];
        c.card_holders = vec![
            ([7; 32], "o1".into(), c.dir.upn.clone(), "directory".into()),
            (
                [9; 32],
                "o2".into(),
                "megan@contoso.com".into(),
                "panel".into(),
            ),
        ];
        let p = plan(&c, &ctx(&rules));
        assert_eq!(p.bind_cards, vec![([8; 32], "•••• 0043".to_string())]);
        assert_eq!(p.unbind_cards, vec![[6; 32]]);
        let conflicts: Vec<_> = p.changes.iter().filter(|(k, _)| *k == "conflict").collect();
        assert_eq!(conflicts.len(), 1, "{:?}", p.changes);
        assert!(conflicts[0].1.contains("0044") && conflicts[0].1.contains("megan"));
    }
}
