//! Card administration for technicians, shared by the service-menu pages and the command line
//! (`mfp-kiosk cards ...`): list a user's cards, enroll a card number for a user, revoke one
//! card or all of them, and find users to do it for. No UI here: callers render the results.
//!
//! Enrollment goes through the same path as self-enrollment at the panel: the configured
//! `readers.normalise` pipeline, then the device key's keyed hash; only the hash and a masked
//! suffix ("•••• 1234") are stored. A card bound to another user is refused, naming both users,
//! unless the caller asks to move it; the `identity.max_cards_per_user` rule unbinds the
//! user's oldest card and the result says which. Every action, refused or not, writes one
//! audit row: actor, action (`card_enroll`, `card_revoke`), subject (the user's oid) and a
//! detail that starts with the outcome (`ok:`, `refused:`). Card numbers never appear in
//! errors, audit rows or results.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::card::{CardError, CardPipeline};
use crate::identity::{UserRecord, UserStatus};
use crate::secrets::{mask_card, DeviceKey};
use crate::store::{BindResult, CardRecord, Store, StoreError};

/// Audit action of an enrollment attempt.
pub const ACTION_ENROLL: &str = "card_enroll";
/// Audit action of a revocation (one card or all).
pub const ACTION_REVOKE: &str = "card_revoke";

/// Who performs a card action, as written to the audit log and to a card's `bound_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The user at the panel, binding their own card (self-enrollment): their oid.
    User(String),
    /// A signed-in technician (their oid), from the service menu.
    Technician(String),
    /// Whoever opened the service menu with the service PIN.
    ServicePin,
    /// A shell on the panel (`mfp-kiosk cards ...`).
    Cli,
}

impl Actor {
    /// The actor string of the audit log: `<oid>`, `technician:<oid>`, `service-pin`, `cli`.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::User(oid) => oid.clone(),
            Actor::Technician(oid) => format!("technician:{oid}"),
            Actor::ServicePin => "service-pin".into(),
            Actor::Cli => "cli".into(),
        }
    }
}

/// A user as named in messages: display name and UPN (never anything secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub oid: String,
    pub display_name: String,
    pub upn: String,
}

impl From<&UserRecord> for Named {
    fn from(u: &UserRecord) -> Self {
        Named {
            oid: u.oid.clone(),
            display_name: u.display_name.clone(),
            upn: u.upn.clone(),
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <{}>", self.display_name, self.upn)
    }
}

/// Who bound a card, resolved for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundBy {
    /// The owner, at a Microsoft sign-in after tapping it.
    SelfEnrolled,
    /// A technician; the UPN when the panel still knows them.
    Technician {
        oid: String,
        upn: Option<String>,
    },
    ServicePin,
    Cli,
    /// Bound before this was recorded, or by a directory import.
    Unknown,
    /// Another actor string (kept verbatim).
    Other(String),
}

impl fmt::Display for BoundBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundBy::SelfEnrolled => f.write_str("self-enrollment"),
            BoundBy::Technician { upn: Some(upn), .. } => write!(f, "technician {upn}"),
            BoundBy::Technician { oid, upn: None } => write!(f, "technician {oid}"),
            BoundBy::ServicePin => f.write_str("service-pin"),
            BoundBy::Cli => f.write_str("cli"),
            BoundBy::Unknown => f.write_str("unknown"),
            BoundBy::Other(s) => f.write_str(s),
        }
    }
}

/// One bound card as the technician sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// e.g. "•••• 1234".
    pub masked: String,
    pub bound_at: DateTime<Utc>,
    pub bound_by: BoundBy,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What enrolling a number would do, before doing it (the panel asks "Move it?" or says
/// which card is replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollPlan {
    pub masked: String,
    /// Another user who holds the card now.
    pub owner: Option<Named>,
    /// The user holds this card already (enrolling again only refreshes its binding time).
    pub already_bound: bool,
    /// The user's cards the limit would unbind, oldest first.
    pub replaces: Vec<String>,
}

/// What an enrollment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub user: Named,
    pub masked: String,
    pub already_bound: bool,
    /// The card was moved away from this user.
    pub moved_from: Option<Named>,
    /// Masked numbers of the user's cards unbound by `identity.max_cards_per_user`.
    pub replaced: Vec<String>,
    pub max_per_user: u32,
}

/// Which cards to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The one card whose masked suffix ends with these characters ("1234" or "•••• 1234").
    Suffix(String),
    All,
}

#[derive(Debug, thiserror::Error)]
pub enum CardAdminError {
    #[error(
        "no user `{0}` on this panel: give the UPN (or username) of a user who signed in here \
         at least once"
    )]
    UnknownUser(String),
    #[error("{0} is revoked on this panel (disabled or deleted in Entra): no cards can be bound")]
    UserRevoked(Named),
    #[error(
        "the card number does not pass the reader normalisation (`readers.normalise`): {0}; \
         check the number, or the pipeline with the reader check"
    )]
    Normalise(CardError),
    #[error(
        "card {masked} already belongs to {owner}; moving it to {target} must be asked for \
         (`--move` on the command line, \"Move it\" on the panel)"
    )]
    BoundToOther {
        masked: String,
        // Boxed: keeps every Result of this module small.
        owner: Box<Named>,
        target: Box<Named>,
    },
    #[error("{user} has no card ending in `{suffix}` (see `mfp-kiosk cards list --user {upn}`)", upn = .user.upn)]
    NoSuchCard { user: Named, suffix: String },
    #[error("{count} of {user}'s cards end in `{suffix}`: give more of the suffix, or revoke all")]
    AmbiguousSuffix {
        user: Named,
        suffix: String,
        count: usize,
    },
    #[error("a card suffix is needed, e.g. `1234` as shown by `cards list`")]
    EmptySuffix,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The card administration operations over one panel's store, device key and pipeline.
pub struct CardAdmin<'a> {
    store: &'a Store,
    key: &'a DeviceKey,
    pipeline: &'a CardPipeline,
    max_per_user: u32,
    /// Queue enrolled cards for the directory write-back (`directory.write_cards`).
    write_back: bool,
}

impl<'a> CardAdmin<'a> {
    pub fn new(
        store: &'a Store,
        key: &'a DeviceKey,
        pipeline: &'a CardPipeline,
        max_per_user: u32,
    ) -> Self {
        CardAdmin {
            store,
            key,
            pipeline,
            max_per_user,
            write_back: false,
        }
    }

    /// With `true`, every enrolled card is queued for the directory write-back (fleet-wide
    /// enrollment), as self-enrollment does.
    pub fn writing_back(mut self, on: bool) -> Self {
        self.write_back = on;
        self
    }

    /// A cached user by UPN, username or object id (live accounts win over revoked ones).
    pub fn find_user(&self, who: &str) -> Result<UserRecord, CardAdminError> {
        let who = who.trim();
        let found = match self.store.user_by_upn(who)? {
            Some(u) => Some(u),
            None => match self.store.user_by_username(who)? {
                Some(u) => Some(u),
                None => self.store.user_by_oid(who)?,
            },
        };
        found.ok_or_else(|| CardAdminError::UnknownUser(who.to_string()))
    }

    /// A user's cards, oldest first.
    pub fn list(&self, user: &UserRecord) -> Result<Vec<CardInfo>, CardAdminError> {
        let cards = self.store.cards_for_user(&user.oid)?;
        cards.iter().map(|c| self.info(&user.oid, c)).collect()
    }

    /// Every user who has cards, by display name, with their cards.
    pub fn list_all(&self) -> Result<Vec<(Named, Vec<CardInfo>)>, CardAdminError> {
        let mut out: Vec<(Named, Vec<CardInfo>)> = Vec::new();
        for (oid, card) in self.store.all_cards()? {
            let info = self.info(&oid, &card)?;
            match out.last_mut() {
                Some((owner, cards)) if owner.oid == oid => cards.push(info),
                _ => {
                    let owner = match self.store.user_by_oid(&oid)? {
                        Some(u) => Named::from(&u),
                        None => Named {
                            oid: oid.clone(),
                            display_name: oid.clone(),
                            upn: String::new(),
                        },
                    };
                    out.push((owner, vec![info]));
                }
            }
        }
        out.sort_by_cached_key(|(n, _)| (n.display_name.to_lowercase(), n.upn.to_lowercase()));
        Ok(out)
    }

    fn info(&self, owner: &str, c: &CardRecord) -> Result<CardInfo, CardAdminError> {
        let bound_by = match c.bound_by.as_deref() {
            None => BoundBy::Unknown,
            Some(a) if a == owner => BoundBy::SelfEnrolled,
            Some("service-pin") => BoundBy::ServicePin,
            Some("cli") => BoundBy::Cli,
            Some(a) => match a.strip_prefix("technician:") {
                Some(oid) => BoundBy::Technician {
                    oid: oid.to_string(),
                    upn: self.store.user_by_oid(oid)?.map(|u| u.upn),
                },
                None => BoundBy::Other(a.to_string()),
            },
        };
        Ok(CardInfo {
            masked: c.masked.clone(),
            bound_at: c.bound_at,
            bound_by,
            last_used_at: c.last_used_at,
        })
    }

    /// The keyed hash and masked suffix of a raw card read or typed number, exactly as
    /// self-enrollment stores it.
    fn hash(&self, number: &SecretString) -> Result<([u8; 32], String), CardError> {
        let normalised = SecretString::from(self.pipeline.apply(number.expose_secret())?);
        Ok((
            self.key.card_hash(normalised.expose_secret()),
            mask_card(normalised.expose_secret()),
        ))
    }

    /// Queues an enrolled card for the directory; a failure is logged, the binding stands.
    fn queue_write_back(&self, oid: &str, number: &SecretString) {
        let queued = self
            .pipeline
            .apply(number.expose_secret())
            .map_err(|e| e.to_string())
            .and_then(|n| {
                crate::directory::writeback::queue(
                    self.store,
                    self.key,
                    oid,
                    &SecretString::from(n),
                    Utc::now(),
                )
                .map_err(|e| e.to_string())
            });
        if let Err(e) = queued {
            tracing::warn!(error = %e, "cannot queue the card for the directory write-back");
        }
    }

    /// What enrolling `number` for `user` would do; changes nothing and audits nothing.
    pub fn plan(
        &self,
        user: &UserRecord,
        number: &SecretString,
    ) -> Result<EnrollPlan, CardAdminError> {
        let (hash, masked) = self.hash(number).map_err(CardAdminError::Normalise)?;
        self.plan_hashed(user, &hash, masked)
    }

    fn plan_hashed(
        &self,
        user: &UserRecord,
        hash: &[u8; 32],
        masked: String,
    ) -> Result<EnrollPlan, CardAdminError> {
        let owner_oid = self.store.card_owner(hash)?;
        let already_bound = owner_oid.as_deref() == Some(user.oid.as_str());
        let owner = match owner_oid.filter(|o| *o != user.oid) {
            Some(o) => Some(match self.store.user_by_oid(&o)? {
                Some(u) => Named::from(&u),
                None => Named {
                    display_name: o.clone(),
                    upn: String::new(),
                    oid: o,
                },
            }),
            None => None,
        };
        let cards = self.store.cards_for_user(&user.oid)?;
        // Mirrors Store::bind_card_as: the newest max-1 cards stay, the rest go, oldest first.
        let keep = usize::try_from(self.max_per_user.max(1) - 1).unwrap_or(usize::MAX);
        let others: Vec<&CardRecord> = cards.iter().filter(|c| c.hash != *hash).collect();
        let replaces = others
            .iter()
            .take(others.len().saturating_sub(keep))
            .map(|c| c.masked.clone())
            .collect();
        Ok(EnrollPlan {
            masked,
            owner,
            already_bound,
            replaces,
        })
    }

    /// Binds `number` to `user`. Refuses a card that belongs to someone else unless
    /// `allow_move`. Audited whatever the outcome.
    pub fn enroll(
        &self,
        user: &UserRecord,
        number: &SecretString,
        allow_move: bool,
        actor: &Actor,
    ) -> Result<Enrolled, CardAdminError> {
        let target = Named::from(user);
        let refuse = |detail: &str| self.audit(actor, ACTION_ENROLL, &user.oid, detail);
        if user.status == UserStatus::Revoked {
            refuse("refused: user is revoked")?;
            return Err(CardAdminError::UserRevoked(target));
        }
        let (hash, masked) = match self.hash(number) {
            Ok(h) => h,
            Err(e) => {
                refuse(&format!("refused: number fails normalisation ({e})"))?;
                return Err(CardAdminError::Normalise(e));
            }
        };
        let plan = self.plan_hashed(user, &hash, masked.clone())?;
        if let (Some(owner), false) = (&plan.owner, allow_move) {
            refuse(&format!("refused: {masked} belongs to {owner}"))?;
            return Err(CardAdminError::BoundToOther {
                masked,
                owner: Box::new(owner.clone()),
                target: Box::new(target),
            });
        }
        let result = self.store.bind_card_as(
            &user.oid,
            &hash,
            &masked,
            self.max_per_user,
            Utc::now(),
            &actor.audit_name(),
            allow_move,
        )?;
        let outcome = match result {
            BindResult::Bound(o) => o,
            // Someone bound it between the plan and the bind: refuse the same way.
            BindResult::OwnedByOther(o) => {
                let owner = self
                    .store
                    .user_by_oid(&o)?
                    .map(|u| Named::from(&u))
                    .unwrap_or(Named {
                        display_name: o.clone(),
                        upn: String::new(),
                        oid: o,
                    });
                refuse(&format!("refused: {masked} belongs to {owner}"))?;
                return Err(CardAdminError::BoundToOther {
                    masked,
                    owner: Box::new(owner),
                    target: Box::new(target),
                });
            }
        };
        let moved_from = match outcome.moved_from {
            Some(o) => Some(plan.owner.filter(|p| p.oid == o).unwrap_or_else(|| Named {
                display_name: o.clone(),
                upn: String::new(),
                oid: o,
            })),
            None => None,
        };
        let mut detail = if outcome.already_bound {
            format!("ok: {masked} was already bound; binding renewed")
        } else {
            format!("ok: bound {masked}")
        };
        if let Some(from) = &moved_from {
            detail.push_str(&format!("; moved from {from}"));
        }
        if !outcome.replaced.is_empty() {
            detail.push_str(&format!(
                "; replaced {} (limit {})",
                outcome.replaced.join(", "),
                self.max_per_user
            ));
        }
        self.audit(actor, ACTION_ENROLL, &user.oid, &detail)?;
        if self.write_back {
            self.queue_write_back(&user.oid, number);
        }
        if let Some(from) = &moved_from {
            // The previous owner's history shows the card left them.
            self.audit(
                actor,
                ACTION_REVOKE,
                &from.oid,
                &format!("ok: {masked} moved to {target}"),
            )?;
        }
        Ok(Enrolled {
            user: target,
            masked,
            already_bound: outcome.already_bound,
            moved_from,
            replaced: outcome.replaced,
            max_per_user: self.max_per_user,
        })
    }

    /// Unbinds one card (by masked suffix) or all of the user's cards; returns the masked
    /// numbers that were unbound. Audited whatever the outcome.
    pub fn revoke(
        &self,
        user: &UserRecord,
        which: &Revoke,
        actor: &Actor,
    ) -> Result<Vec<String>, CardAdminError> {
        let named = Named::from(user);
        let cards = self.store.cards_for_user(&user.oid)?;
        let chosen: Vec<&CardRecord> = match which {
            Revoke::All => cards.iter().collect(),
            Revoke::Suffix(s) => {
                let suffix = alnum(s);
                if suffix.is_empty() {
                    return Err(CardAdminError::EmptySuffix);
                }
                let matching: Vec<&CardRecord> = cards
                    .iter()
                    .filter(|c| alnum(&c.masked).ends_with(&suffix))
                    .collect();
                match matching.len() {
                    1 => matching,
                    0 => {
                        self.audit(
                            actor,
                            ACTION_REVOKE,
                            &user.oid,
                            &format!("refused: no card ending in {suffix}"),
                        )?;
                        return Err(CardAdminError::NoSuchCard {
                            user: named,
                            suffix,
                        });
                    }
                    count => {
                        self.audit(
                            actor,
                            ACTION_REVOKE,
                            &user.oid,
                            &format!("refused: {count} cards end in {suffix}"),
                        )?;
                        return Err(CardAdminError::AmbiguousSuffix {
                            user: named,
                            suffix,
                            count,
                        });
                    }
                }
            }
        };
        let mut revoked = Vec::new();
        for c in chosen {
            if self.store.unbind_card(&c.hash)? {
                revoked.push(c.masked.clone());
            }
        }
        let detail = match (which, revoked.is_empty()) {
            (Revoke::All, true) => "ok: no cards to revoke".to_string(),
            (Revoke::All, false) => format!("ok: all cards revoked ({})", revoked.join(", ")),
            (Revoke::Suffix(_), _) => format!("ok: revoked {}", revoked.join(", ")),
        };
        self.audit(actor, ACTION_REVOKE, &user.oid, &detail)?;
        Ok(revoked)
    }

    /// Audit failures are errors here (unlike at sign-in): a technician action that cannot be
    /// recorded is reported rather than silently unaudited.
    fn audit(
        &self,
        actor: &Actor,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<(), CardAdminError> {
        self.store.append_audit(
            &actor.audit_name(),
            action,
            Some(subject),
            Some(detail),
            Utc::now(),
        )?;
        Ok(())
    }
}

/// Letters and digits only, upper-cased: "•••• 12ab" and "12AB" compare equal.
fn alnum(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::UserStatus;

    fn user(oid: &str, name: &str) -> UserRecord {
        let t = chrono::DateTime::parse_from_rfc3339("2025-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        UserRecord {
            oid: oid.into(),
            tenant_id: "t".into(),
            upn: format!("{name}@contoso.com"),
            display_name: name.to_uppercase(),
            mail: None,
            username: format!("msp-{name}"),
            roles: vec![],
            groups: vec![],
            is_technician: false,
            status: UserStatus::Active,
            created_at: t,
            updated_at: t,
            last_online_at: t,
        }
    }

    #[test]
    fn plan_enroll_move_and_revoke() {
        let store = Store::open_in_memory().unwrap();
        let key = DeviceKey::from_master(&[7; 32]);
        let pipeline = CardPipeline::parse(&["hex_to_dec".to_string()]).unwrap();
        let admin = CardAdmin::new(&store, &key, &pipeline, 2);
        let (a, m) = (user("a", "adele"), user("m", "megan"));
        store.upsert_user(&a).unwrap();
        store.upsert_user(&m).unwrap();
        let n = |s: &str| SecretString::from(s.to_string());

        // 0x04A1B2C3 = 77705923: the stored suffix is of the normalised (decimal) number.
        let e = admin
            .enroll(&a, &n("04A1B2C3"), false, &Actor::Cli)
            .unwrap();
        assert_eq!(e.masked, "•••• 5923");
        let plan = admin.plan(&m, &n("04a1b2c3")).unwrap();
        assert_eq!(plan.owner.as_ref().map(|o| o.oid.as_str()), Some("a"));
        let err = admin
            .enroll(&m, &n("04A1B2C3"), false, &Actor::ServicePin)
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("ADELE <adele@contoso.com>"), "{msg}");
        assert!(msg.contains("MEGAN <megan@contoso.com>"), "{msg}");
        assert!(matches!(
            admin.enroll(&m, &n("xyz"), false, &Actor::Cli),
            Err(CardAdminError::Normalise(_))
        ));
        let e = admin
            .enroll(&m, &n("04A1B2C3"), true, &Actor::Technician("a".into()))
            .unwrap();
        assert_eq!(e.moved_from.map(|n| n.oid).as_deref(), Some("a"));
        let cards = admin.list(&m).unwrap();
        assert_eq!(
            cards[0].bound_by,
            BoundBy::Technician {
                oid: "a".into(),
                upn: Some("adele@contoso.com".into())
            }
        );
        assert!(admin.list(&a).unwrap().is_empty());

        // Limit 2: the third card replaces the oldest, and the plan says so first.
        admin.enroll(&m, &n("11"), false, &Actor::Cli).unwrap();
        let plan = admin.plan(&m, &n("12")).unwrap();
        assert_eq!(plan.replaces, ["•••• 5923"]);
        let e = admin.enroll(&m, &n("12"), false, &Actor::Cli).unwrap();
        assert_eq!(e.replaced, ["•••• 5923"]);
        // Enrolling a card again replaces nothing.
        assert!(admin.plan(&m, &n("12")).unwrap().replaces.is_empty());

        assert!(matches!(
            admin.revoke(&m, &Revoke::Suffix("99".into()), &Actor::Cli),
            Err(CardAdminError::NoSuchCard { .. })
        ));
        // 0x11 = 17 and 0x12 = 18: masked "•••• 7" and "•••• 8".
        assert_eq!(
            admin
                .revoke(&m, &Revoke::Suffix("•••• 7".into()), &Actor::Cli)
                .unwrap(),
            ["•••• 7"]
        );
        assert_eq!(
            admin.revoke(&m, &Revoke::All, &Actor::Cli).unwrap(),
            ["•••• 8"]
        );
        let audit = store.recent_audit(100).unwrap();
        assert!(audit.iter().all(|e| e.subject.is_some()));
        assert!(audit
            .iter()
            .any(|e| e.actor == "service-pin"
                && e.detail.as_deref().unwrap().starts_with("refused:")));
        assert!(audit.iter().any(|e| e.actor == "technician:a"));
    }
}
