//! Benchmark: the service menu's "pick the user" search over 100,000 cached users, one query
//! per key press of realistic typing (first names, surnames, UPNs, and "con", which is in every
//! `@contoso.example` UPN). Prints p50/p99 per key press (target p99 < 10 ms) beside two
//! references measured in the same run on the same database: the same key presses as a plain
//! `LIKE '%x%'` scan of `users` (what the search replaces) and a primary-key lookup (the floor).
//!
//! `cargo bench --bench user_search` runs the full size; without `--bench` (as `cargo test
//! --all-targets` runs it) it does a small smoke run that also checks the results.

use std::time::{Duration, Instant};

use chrono::Utc;
use mfp_kiosk::identity::{UserRecord, UserStatus};
use mfp_kiosk::store::{Store, MAX_SEARCH_RESULTS};
use rand::{Rng, SeedableRng};

const FIRST: [&str; 40] = [
    "Adele", "Alex", "Allan", "Amelia", "Ben", "Bianca", "Carlos", "Chloe", "Diego", "Dana",
    "Elena", "Emil", "Fatima", "Felix", "Grace", "Gustav", "Hana", "Henrik", "Irene", "Ivan",
    "Johanna", "Jonas", "Karin", "Kenji", "Lara", "Lukas", "Megan", "Marco", "Nadia", "Nils",
    "Olivia", "Oskar", "Priya", "Pablo", "Rosa", "Rafael", "Sofia", "Stefan", "Tanja", "Yusuf",
];
const LAST: [&str; 50] = [
    "Bowen",
    "Vance",
    "Wilber",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "García",
    "Martínez",
    "López",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Dubois",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Nakamura",
    "Tanaka",
    "Suzuki",
    "Kowalski",
    "Nowak",
    "Novák",
    "Horváth",
    "Johansson",
    "Larsson",
    "Nielsen",
    "Jensen",
    "Hansen",
    "O'Brien",
    "Murphy",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Every prefix of `word`: what the search field holds after each key press.
fn keystrokes(word: &str) -> Vec<String> {
    word.char_indices()
        .map(|(i, c)| word[..i + c.len_utf8()].to_string())
        .collect()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (users_n, targets) = if full { (100_000, 60) } else { (2_000, 8) };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kiosk.sqlite3");
    let store = Store::open(&path).expect("store");

    let now = Utc::now();
    let users: Vec<UserRecord> = (0..users_n)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len()) % LAST.len()];
            let n = i / (FIRST.len() * LAST.len());
            let local =
                format!("{}.{}{n}", first.to_lowercase(), last.to_lowercase()).replace('\'', "");
            UserRecord {
                oid: format!("00000000-0000-4000-8000-{i:012}"),
                tenant_id: "tenant".into(),
                upn: format!("{local}@contoso.example"),
                display_name: format!("{first} {last}"),
                mail: None,
                username: format!("msp-{local}"),
                roles: vec![],
                groups: vec![],
                // Every 50th cached identity was offboarded: never offered.
                is_technician: false,
                status: if i % 50 == 0 {
                    UserStatus::Revoked
                } else {
                    UserStatus::Active
                },
                created_at: now,
                updated_at: now,
                last_online_at: now,
            }
        })
        .collect();
    let t = Instant::now();
    store.import_directory(&users, &[], now).expect("import");
    println!(
        "identity cache: {users_n} users (2% revoked), imported and indexed in {:.2?}",
        t.elapsed()
    );

    // What technicians type: a user's first name then surname, a surname alone, a UPN, and
    // the pathological "con…" that matches every UPN.
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut presses: Vec<String> = Vec::new();
    for _ in 0..targets {
        let u = &users[rng.gen_range(0..users_n)];
        match rng.gen_range(0..3) {
            0 => presses.extend(keystrokes(&u.display_name)),
            1 => presses.extend(keystrokes(u.display_name.split(' ').nth(1).unwrap_or("x"))),
            _ => presses.extend(keystrokes(&u.upn[..u.upn.find('@').unwrap_or(3)])),
        }
    }
    presses.extend(keystrokes("contoso"));

    let conn = rusqlite::Connection::open(&path).expect("second connection");
    let like_scan = |q: &str| -> usize {
        let pattern = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = conn
            .prepare_cached(
                "SELECT oid FROM users WHERE status != 'revoked' AND (display_name LIKE ?1
                     ESCAPE '\\' OR upn LIKE ?1 ESCAPE '\\' OR username LIKE ?1 ESCAPE '\\')
                 ORDER BY display_name COLLATE NOCASE LIMIT 50",
            )
            .expect("prepare");
        let rows = stmt
            .query_map([pattern], |r| r.get::<_, String>(0))
            .expect("query");
        rows.count()
    };

    let (mut search, mut scan, mut pk) = (Vec::new(), Vec::new(), Vec::new());
    let mut shown = 0usize;
    for (i, q) in presses.iter().enumerate() {
        let t = Instant::now();
        let hits = store.search_users(q, MAX_SEARCH_RESULTS).expect("search");
        search.push(t.elapsed());
        shown += hits.len();

        let t = Instant::now();
        let scanned = like_scan(q);
        scan.push(t.elapsed());

        let oid = &users[(i * 7919) % users_n].oid;
        let t = Instant::now();
        let found = store.user_by_oid(oid).expect("pk lookup");
        pk.push(t.elapsed());
        assert!(found.is_some());

        assert!(hits.len() <= MAX_SEARCH_RESULTS);
        assert!(hits.iter().all(|h| h.user.status != UserStatus::Revoked));
        let lq = q.to_lowercase();
        assert!(
            hits.iter()
                .all(|h| [&h.user.display_name, &h.user.upn, &h.user.username]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&lq))),
            "a hit for {q:?} does not contain it"
        );
        // From three characters on, whatever a full scan finds, the search finds too.
        if q.chars().count() >= 3 && scanned > 0 {
            assert!(
                !hits.is_empty(),
                "{q:?}: the scan found {scanned}, the search none"
            );
        }
    }
    for v in [&mut search, &mut scan, &mut pk] {
        v.sort();
    }
    let (s50, s99) = (percentile(&search, 0.5), percentile(&search, 0.99));
    let (l50, l99) = (percentile(&scan, 0.5), percentile(&scan, 0.99));
    let (p50, p99) = (percentile(&pk, 0.5), percentile(&pk, 0.99));
    println!(
        "user search, {} key presses ({:.1} results shown on average):",
        presses.len(),
        shown as f64 / presses.len() as f64
    );
    println!(
        "  indexed search    p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  (target p99 < 10 ms)",
        ms(s50),
        ms(s99),
        ms(search[search.len() - 1])
    );
    println!(
        "  LIKE '%x%' scan   p50 {:.3} ms  p99 {:.3} ms  -> search is {:.0}x faster at p50, {:.0}x at p99",
        ms(l50),
        ms(l99),
        l50.as_secs_f64() / s50.as_secs_f64(),
        l99.as_secs_f64() / s99.as_secs_f64()
    );
    println!(
        "  primary-key get   p50 {:.3} ms  p99 {:.3} ms  -> search costs {:.1}x a key lookup at p50",
        ms(p50),
        ms(p99),
        s50.as_secs_f64() / p50.as_secs_f64()
    );
}
