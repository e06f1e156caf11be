//! Which application permissions directory sync needs, and which of them an app-only token
//! carries (its `roles` claim): what `mfp-kiosk doctor` checks and explains in plain words.

use base64::Engine;

/// One permission the panel needs, and the wider ones that also grant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    /// The least-privileged application permission to grant.
    pub permission: &'static str,
    /// Wider permissions that include it.
    pub also_granted_by: &'static [&'static str],
    /// What the panel cannot do without it.
    pub used_for: &'static str,
}

const USER_READ: Needed = Needed {
    permission: "User.Read.All",
    also_granted_by: &[
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
    used_for: "read the users (/users/delta)",
};
const GROUP_MEMBER_READ: Needed = Needed {
    permission: "GroupMember.Read.All",
    also_granted_by: &[
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
    used_for: "read the members of directory.groups (/groups/delta)",
};
const USER_WRITE: Needed = Needed {
    permission: "User.ReadWrite.All",
    also_granted_by: &["Directory.ReadWrite.All"],
    used_for: "write enrolled badges to the directory (directory.write_cards)",
};

/// The permissions directory sync needs: `User.ReadWrite.All` only with `write_cards`.
pub fn needed(write_cards: bool) -> Vec<Needed> {
    let mut out = vec![USER_READ, GROUP_MEMBER_READ];
    if write_cards {
        out.push(USER_WRITE);
    }
    out
}

/// The `roles` claim of an access token (its payload is read, not verified: the token came
/// from Entra over TLS a moment ago and is only inspected, never trusted for access).
pub fn token_roles(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        v.get("roles")
            .and_then(|r| r.as_array())
            .map(|r| {
                r.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// The needed permissions `roles` does not grant.
pub fn missing(roles: &[String], write_cards: bool) -> Vec<Needed> {
    needed(write_cards)
        .into_iter()
        .filter(|n| {
            !roles
                .iter()
                .any(|r| r == n.permission || n.also_granted_by.contains(&r.as_str()))
        })
        .collect()
}

/// What to tell the administrator about a missing permission.
pub fn advice(n: &Needed) -> String {
    format!(
        "the app token lacks the application permission {p}: the panel cannot {u}. In the \
         Entra admin center, on the app registration: API permissions > Add a permission > \
         Microsoft Graph > Application permissions > {p}, then Grant admin consent",
        p = n.permission,
        u = n.used_for
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: serde_json::Value) -> String {
        let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b(br#"{"alg":"RS256"}"#),
            b(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn roles_are_read_from_the_token() {
        let t = token(serde_json::json!({"roles": ["User.Read.All", "Group.Read.All"]}));
        let roles = token_roles(&t).unwrap();
        assert!(missing(&roles, false).is_empty(), "Group.Read.All is wider");
        let m = missing(&roles, true);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].permission, "User.ReadWrite.All");
        assert!(advice(&m[0]).contains("Grant admin consent"));
        assert_eq!(token_roles(&token(serde_json::json!({}))), Some(vec![]));
        assert_eq!(token_roles("not a token"), None);
    }

    #[test]
    fn a_token_without_roles_misses_both_read_permissions() {
        let names: Vec<_> = missing(&[], false).iter().map(|n| n.permission).collect();
        assert_eq!(names, ["User.Read.All", "GroupMember.Read.All"]);
        let wide = vec!["Directory.ReadWrite.All".to_string()];
        assert!(missing(&wide, true).is_empty());
    }
}
