//! User search for the "pick the user" field of the service menu (and `cards --user` hints):
//! display name, UPN or username, as the technician types, case-insensitive, ranked, bounded.
//!
//! Every key press costs a few index range scans, never a scan of `users`:
//! - prefixes walk the NOCASE indexes on display name, UPN and username (live users only),
//!   at most `limit` rows each;
//! - substrings (from 3 characters, the trigram length) come from the FTS5 `trigram` table
//!   `users_search`, which triggers keep in step with `users`; at most [`SUBSTRING_CANDIDATES`]
//!   rows are ranked, so a query that matches half the directory ("con" in every
//!   `@contoso.com`) stays as cheap as a specific one.
//!
//! Ranking: exact match, then prefix of a field, then the start of a word (a surname, a UPN
//! part), then any substring; ties by display name. One and two characters match prefixes only.
//! NOCASE folds ASCII only; the trigram table folds Unicode case, so "élodie" still finds
//! "Élodie" from three letters on.

use rusqlite::{params, OptionalExtension};

use super::users::{user_from_row, USER_COLUMNS};
use super::{Store, StoreError};
use crate::identity::UserRecord;

/// Most results a search returns (what the panel's list shows).
pub const MAX_SEARCH_RESULTS: usize = 50;
/// Substring matches ranked per key press, at most.
pub const SUBSTRING_CANDIDATES: usize = 256;

/// How well a user matched; lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchRank {
    Exact,
    Prefix,
    WordStart,
    Substring,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserHit {
    pub user: UserRecord,
    pub rank: MatchRank,
}

/// One prefix statement per searchable column; each walks its partial NOCASE index. Candidates
/// carry only what ranking needs; full records are read for the winners alone.
const PREFIX_SQL: [&str; 3] = [
    "SELECT u.rowid, u.display_name, u.upn, u.username FROM users u
         WHERE u.status != 'revoked'
         AND u.display_name >= ?1 COLLATE NOCASE AND u.display_name < ?2 COLLATE NOCASE
         ORDER BY u.display_name COLLATE NOCASE LIMIT ?3",
    "SELECT u.rowid, u.display_name, u.upn, u.username FROM users u
         WHERE u.status != 'revoked'
         AND u.upn >= ?1 COLLATE NOCASE AND u.upn < ?2 COLLATE NOCASE
         ORDER BY u.upn COLLATE NOCASE LIMIT ?3",
    "SELECT u.rowid, u.display_name, u.upn, u.username FROM users u
         WHERE u.status != 'revoked'
         AND u.username >= ?1 COLLATE NOCASE AND u.username < ?2 COLLATE NOCASE
         ORDER BY u.username COLLATE NOCASE LIMIT ?3",
];

/// Substring candidates straight from the trigram table (it holds live users only and its
/// own copy of the three fields), in rowid order, bounded.
const SUBSTRING_SQL: &str = "SELECT s.rowid, s.display_name, s.upn, s.username
     FROM users_search s WHERE users_search MATCH ?1 LIMIT ?2";

/// The full record of a winner.
const FETCH_SQL: &str = "SELECT {COLS} FROM users u WHERE u.rowid = ?1 AND u.status != 'revoked'";

fn sql(template: &str) -> String {
    template.replace("{COLS}", USER_COLUMNS)
}

/// A search candidate: users.rowid and the searchable fields.
struct Candidate {
    rowid: i64,
    display_name: String,
    upn: String,
    username: String,
}

fn candidate(r: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    Ok(Candidate {
        rowid: r.get(0)?,
        display_name: r.get(1)?,
        upn: r.get(2)?,
        username: r.get(3)?,
    })
}

/// The FTS5 query for a literal substring: one quoted phrase, so operators and punctuation the
/// technician types (`-`, `.`, `@`, `"`) are text, not syntax.
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// Upper bound of the prefix range: every string starting with `q` sorts below it.
fn prefix_end(q: &str) -> String {
    let mut end = q.to_string();
    end.push(char::MAX);
    end
}

fn rank(c: &Candidate, q: &str) -> MatchRank {
    let fields = [
        c.display_name.to_lowercase(),
        c.upn.to_lowercase(),
        c.username.to_lowercase(),
    ];
    if fields.iter().any(|f| *f == q) {
        return MatchRank::Exact;
    }
    if fields.iter().any(|f| f.starts_with(q)) {
        return MatchRank::Prefix;
    }
    let word_start = fields.iter().any(|f| {
        f.match_indices(q).any(|(i, _)| {
            f[..i]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_alphanumeric())
        })
    });
    if word_start {
        MatchRank::WordStart
    } else {
        MatchRank::Substring
    }
}

impl Store {
    /// Live users matching `query` (see the module doc), best first, at most
    /// `limit.min(MAX_SEARCH_RESULTS)`. An empty query finds nobody.
    pub fn search_users(&self, query: &str, limit: usize) -> Result<Vec<UserHit>, StoreError> {
        let q = query.trim().to_lowercase();
        let limit = limit.min(MAX_SEARCH_RESULTS);
        if q.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        self.with(|c| {
            let mut found: Vec<Candidate> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            let end = prefix_end(&q);
            let n = i64::try_from(limit).unwrap_or(i64::MAX);
            for template in PREFIX_SQL {
                let mut stmt = c.prepare_cached(template)?;
                for r in stmt.query_map(params![q, end, n], candidate)? {
                    let r = r?;
                    if seen.insert(r.rowid) {
                        found.push(r);
                    }
                }
            }
            // Substring matches rank below every prefix match: with a full page of prefix
            // matches they could not be shown, so the trigram table is not asked.
            if found.len() < limit && q.chars().count() >= 3 {
                let mut stmt = c.prepare_cached(SUBSTRING_SQL)?;
                let cap = i64::try_from(SUBSTRING_CANDIDATES).unwrap_or(i64::MAX);
                for r in stmt.query_map(params![fts_phrase(&q), cap], candidate)? {
                    let r = r?;
                    if seen.insert(r.rowid) {
                        found.push(r);
                    }
                }
            }
            let mut ranked: Vec<(MatchRank, String, String, i64)> = found
                .into_iter()
                .map(|cand| {
                    (
                        rank(&cand, &q),
                        cand.display_name.to_lowercase(),
                        cand.upn.to_lowercase(),
                        cand.rowid,
                    )
                })
                .collect();
            ranked.sort();
            ranked.truncate(limit);
            let mut fetch = c.prepare_cached(&sql(FETCH_SQL))?;
            let mut hits = Vec::with_capacity(ranked.len());
            for (rank, _, _, rowid) in ranked {
                // A row revoked since the candidate was read is left out.
                if let Some(user) = fetch.query_row([rowid], user_from_row).optional()? {
                    hits.push(UserHit { user, rank });
                }
            }
            Ok(hits)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::users::tests::{at, user};
    use super::*;
    use crate::identity::UserStatus;

    fn person(oid: &str, display: &str, upn: &str, username: &str) -> UserRecord {
        let mut u = user(oid, oid);
        u.display_name = display.into();
        u.upn = upn.into();
        u.username = username.into();
        u
    }

    fn names(hits: &[UserHit]) -> Vec<&str> {
        hits.iter().map(|h| h.user.display_name.as_str()).collect()
    }

    fn store() -> Store {
        let s = Store::open_in_memory().unwrap();
        for (oid, d, upn, un) in [
            ("1", "Megan Bowen", "megan@contoso.com", "msp-megan"),
            ("2", "Adele Vance", "adele@contoso.com", "msp-adele"),
            ("3", "Alex Wilber", "alexw@contoso.com", "msp-alexw"),
            ("4", "Bowie Stardust", "ziggy@contoso.com", "msp-ziggy"),
            ("5", "Elbow Band", "elbow@contoso.com", "msp-elbow"),
            ("6", "Meg", "meg.ryan@contoso.com", "msp-meg"),
            ("7", "Élodie Durand", "elodie@contoso.com", "msp-elodie"),
        ] {
            s.upsert_user(&person(oid, d, upn, un)).unwrap();
        }
        s
    }

    #[test]
    fn ranks_exact_then_prefix_then_word_then_substring() {
        let s = store();
        let hits = s.search_users("MEG", 50).unwrap();
        assert_eq!(names(&hits), ["Meg", "Megan Bowen"]);
        assert_eq!(hits[0].rank, MatchRank::Exact);
        assert_eq!(hits[1].rank, MatchRank::Prefix);

        let hits = s.search_users("bow", 50).unwrap();
        assert_eq!(
            names(&hits),
            ["Bowie Stardust", "Megan Bowen", "Elbow Band"]
        );
        let ranks: Vec<_> = hits.iter().map(|h| h.rank).collect();
        assert_eq!(
            ranks,
            [
                MatchRank::Prefix,
                MatchRank::WordStart,
                MatchRank::Substring
            ]
        );
    }

    #[test]
    fn matches_upn_and_username_case_insensitively() {
        let s = store();
        assert_eq!(
            names(&s.search_users("ZIGGY@", 50).unwrap()),
            ["Bowie Stardust"]
        );
        assert_eq!(
            names(&s.search_users("msp-ale", 50).unwrap()),
            ["Alex Wilber"]
        );
        // Substring inside a UPN: "lexw" is in alexw@.
        assert_eq!(names(&s.search_users("LEXW", 50).unwrap()), ["Alex Wilber"]);
        // Short input: prefixes only (no trigram yet).
        assert_eq!(
            names(&s.search_users("a", 50).unwrap()),
            ["Adele Vance", "Alex Wilber"]
        );
        assert!(s.search_users("ow", 50).unwrap().is_empty());
        assert!(s.search_users("   ", 50).unwrap().is_empty());
        // The trigram table folds non-ASCII case.
        assert_eq!(
            names(&s.search_users("ÉLODIE D", 50).unwrap()),
            ["Élodie Durand"]
        );
        // FTS syntax is text.
        assert!(s.search_users("\"or*", 50).unwrap().is_empty());
    }

    #[test]
    fn revoked_users_are_not_offered_and_edits_are_followed() {
        let s = store();
        s.revoke_user("1", "disabled", at(9)).unwrap();
        assert_eq!(names(&s.search_users("meg", 50).unwrap()), ["Meg"]);
        assert!(s.search_users("bowen", 50).unwrap().is_empty());
        // A rename is searchable at once, the old name no longer is.
        let mut u = person("2", "Adele Smith", "adele@contoso.com", "msp-adele");
        u.updated_at = at(10);
        s.upsert_user(&u).unwrap();
        assert_eq!(names(&s.search_users("smit", 50).unwrap()), ["Adele Smith"]);
        assert!(s.search_users("vance", 50).unwrap().is_empty());
        // A re-activated user comes back; a deleted one goes.
        s.set_user_status("1", UserStatus::Active, at(11)).unwrap();
        assert_eq!(
            names(&s.search_users("bowen", 50).unwrap()),
            ["Megan Bowen"]
        );
        s.delete_user("1").unwrap();
        assert!(s.search_users("bowen", 50).unwrap().is_empty());
        // A directory import replaces rows (INSERT OR REPLACE) without leaving stale entries.
        let again = person("3", "Alexander Wilber", "alexw@contoso.com", "msp-alexw");
        s.import_directory(std::slice::from_ref(&again), &[], at(12))
            .unwrap();
        s.import_directory(&[again], &[], at(13)).unwrap();
        assert_eq!(
            names(&s.search_users("wilber", 50).unwrap()),
            ["Alexander Wilber"]
        );
        let fts_rows: i64 = s
            .with(|c| Ok(c.query_row("SELECT count(*) FROM users_search", [], |r| r.get(0))?))
            .unwrap();
        let live: i64 = s
            .with(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM users WHERE status != 'revoked'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(fts_rows, live);
    }

    #[test]
    fn at_most_fifty_and_alphabetical_within_a_rank() {
        let s = Store::open_in_memory().unwrap();
        let users: Vec<UserRecord> = (0..120)
            .rev()
            .map(|i| {
                person(
                    &format!("oid-{i}"),
                    &format!("Sam Person {i:03}"),
                    &format!("sam{i}@contoso.com"),
                    &format!("sam{i}"),
                )
            })
            .collect();
        s.import_directory(&users, &[], at(9)).unwrap();
        let hits = s.search_users("sam", 500).unwrap();
        assert_eq!(hits.len(), MAX_SEARCH_RESULTS);
        assert_eq!(hits[0].user.display_name, "Sam Person 000");
        assert_eq!(hits[49].user.display_name, "Sam Person 049");
        assert!(hits.iter().all(|h| h.rank == MatchRank::Prefix));
        assert_eq!(s.search_users("person 1", 3).unwrap().len(), 3);
    }

    /// Every statement a key press runs uses an index: no `SCAN` of `users`.
    #[test]
    fn no_full_scan_of_users() {
        let s = store();
        let plans: Vec<String> = s
            .with(|c| {
                let mut plans = Vec::new();
                let statements: Vec<(String, Vec<String>)> = PREFIX_SQL
                    .iter()
                    .map(|t| (sql(t), vec!["meg".into(), prefix_end("meg"), "50".into()]))
                    .chain([
                        (sql(SUBSTRING_SQL), vec![fts_phrase("bow"), "256".into()]),
                        (sql(FETCH_SQL), vec!["1".into()]),
                    ])
                    .collect();
                for (stmt, args) in statements {
                    let mut q = c.prepare(&format!("EXPLAIN QUERY PLAN {stmt}"))?;
                    let rows =
                        q.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
                    plans.push(rows.collect::<Result<Vec<_>, _>>()?.join(" | "));
                }
                Ok(plans)
            })
            .unwrap();
        assert_eq!(plans.len(), 5);
        for (plan, index) in plans[..3].iter().zip([
            "users_name_live",
            "users_upn_live",
            "users_username_nocase_live",
        ]) {
            assert!(
                plan.contains(&format!("SEARCH u USING INDEX {index}")),
                "{plan}"
            );
            assert!(!plan.contains("SCAN"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
        // The virtual table answers MATCH from its trigram index (idxStr "M..."), not a scan of
        // its content; the winners are read by rowid.
        let fts = &plans[3];
        assert!(fts.contains("SCAN s VIRTUAL TABLE INDEX 0:M"), "{fts}");
        assert!(!fts.contains("users"), "{fts}");
        let fetch = &plans[4];
        assert!(
            fetch.contains("SEARCH u USING INTEGER PRIMARY KEY (rowid=?)"),
            "{fetch}"
        );
        assert!(!fetch.contains("SCAN"), "{fetch}");
    }
}
