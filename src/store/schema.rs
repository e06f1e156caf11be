//! Schema migrations, applied in order at open. Never edit a released migration: append one.

use rusqlite_migration::{Migrations, M};

const V1: &str = r#"
CREATE TABLE users (
    oid             TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL,
    upn             TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    mail            TEXT,
    username        TEXT NOT NULL,
    roles_json      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles_json)),
    groups_json     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(groups_json)),
    is_technician   INTEGER NOT NULL DEFAULT 0 CHECK (is_technician IN (0, 1)),
    status          TEXT NOT NULL CHECK (status IN ('active', 'needs_signin', 'revoked')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_online_at  TEXT NOT NULL
) STRICT;
-- A revoked user's UPN or username may be reused by a new account.
CREATE UNIQUE INDEX users_upn_live ON users (upn COLLATE NOCASE) WHERE status != 'revoked';
CREATE UNIQUE INDEX users_username_live ON users (username) WHERE status != 'revoked';
CREATE INDEX users_upn ON users (upn COLLATE NOCASE);
CREATE INDEX users_username ON users (username);

CREATE TABLE cards (
    hash        BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    user_oid    TEXT NOT NULL REFERENCES users (oid) ON DELETE CASCADE,
    masked      TEXT NOT NULL,
    bound_at    TEXT NOT NULL
) STRICT;
CREATE INDEX cards_by_user ON cards (user_oid, bound_at);

CREATE TABLE pins (
    user_oid        TEXT PRIMARY KEY NOT NULL REFERENCES users (oid) ON DELETE CASCADE,
    phc             TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until    TEXT,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE TABLE refresh_tokens (
    user_oid    TEXT PRIMARY KEY NOT NULL REFERENCES users (oid) ON DELETE CASCADE,
    nonce       BLOB NOT NULL CHECK (length(nonce) = 24),
    ciphertext  BLOB NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY NOT NULL,
    user_oid        TEXT NOT NULL REFERENCES users (oid) ON DELETE CASCADE,
    workflow_id     TEXT NOT NULL,
    destination     TEXT NOT NULL CHECK (json_valid(destination)),
    folder          TEXT NOT NULL,
    file_name       TEXT NOT NULL,
    spool_path      TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL CHECK (size_bytes >= 0),
    pages           INTEGER NOT NULL CHECK (pages >= 0),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    remote_item_id  TEXT,
    remote_web_url  TEXT,
    upload_url      TEXT,
    next_attempt_at TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_user ON jobs (user_oid);

-- No foreign key: the audit trail outlives the users it mentions.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT,
    detail  TEXT
) STRICT;
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
"#;

/// The panel-wide PIN pad lockout, persisted so a crash or restart does not lift it. One row.
const V2: &str = r#"
CREATE TABLE panel_lockout (
    id              INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    failures        INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_at TEXT,
    locked_until    TEXT,
    updated_at      TEXT NOT NULL
) STRICT;
"#;

/// The service-PIN pad's own panel-wide lockout (same shape as `panel_lockout`). One row.
const SERVICE_PIN: &str = r#"
CREATE TABLE service_pin_lockout (
    id              INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    failures        INTEGER NOT NULL CHECK (failures >= 0),
    last_failure_at TEXT,
    locked_until    TEXT,
    updated_at      TEXT NOT NULL
) STRICT;
"#;

/// Upload leases: which process holds a job it is uploading, and until when (workflow::lease).
const V3: &str = r#"
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
"#;

/// Card administration (issue 9): who bound a card and when it was last used; user search as
/// you type; audit filters. Self-contained (only `ALTER TABLE ... ADD COLUMN` and `CREATE`), so
/// it does not depend on other branches' migrations and can be renumbered at a merge.
const CARDS_ADMIN: &str = r#"
-- Actor that bound the card: the owner's oid (self-enrollment), `technician:<oid>`,
-- `service-pin` or `cli`. NULL for bindings made before this column existed, and for imports.
ALTER TABLE cards ADD COLUMN bound_by TEXT;
-- Last time the card was tapped and signed its (active) owner in.
ALTER TABLE cards ADD COLUMN last_used_at TEXT;

-- Prefix search ("meg" -> Megan) walks these in order, live users only, case-insensitive
-- (users_upn_live from V1 covers the UPN).
CREATE INDEX users_name_live ON users (display_name COLLATE NOCASE) WHERE status != 'revoked';
CREATE INDEX users_username_nocase_live ON users (username COLLATE NOCASE)
    WHERE status != 'revoked';

-- Substring search: trigrams of live users' searchable fields, keyed by users.rowid. A regular
-- FTS5 table (not external-content): the triggers below may delete rows that are already gone,
-- which an external-content table would turn into index corruption.
CREATE VIRTUAL TABLE users_search USING fts5 (
    display_name, upn, username,
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO users_search (rowid, display_name, upn, username)
    SELECT rowid, display_name, upn, username FROM users WHERE status != 'revoked';
-- INSERT OR REPLACE (directory import) deletes the old row without firing delete triggers
-- (recursive_triggers is off), and an upsert never fires AFTER INSERT: so drop any entry of
-- this oid first; the AFTER INSERT or AFTER UPDATE trigger adds the current one back.
CREATE TRIGGER users_search_bi BEFORE INSERT ON users BEGIN
    DELETE FROM users_search WHERE rowid IN (SELECT rowid FROM users WHERE oid = new.oid);
END;
CREATE TRIGGER users_search_ai AFTER INSERT ON users WHEN new.status != 'revoked' BEGIN
    INSERT INTO users_search (rowid, display_name, upn, username)
        VALUES (new.rowid, new.display_name, new.upn, new.username);
END;
CREATE TRIGGER users_search_au AFTER UPDATE OF display_name, upn, username, status ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
    INSERT INTO users_search (rowid, display_name, upn, username)
        SELECT new.rowid, new.display_name, new.upn, new.username
        WHERE new.status != 'revoked';
END;
CREATE TRIGGER users_search_ad AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.rowid;
END;

-- Audit filters, newest first (id order) within each.
CREATE INDEX audit_by_action ON audit (action, id);
CREATE INDEX audit_by_subject ON audit (subject, id);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE INDEX audit_by_at ON audit (at);
"#;

/// Directory sync (issue 10): where a card came from, the directory as the last sync saw it
/// (users with tombstones, group memberships, delta links), and the provisioning report.
/// Self-contained like CARDS_ADMIN, so it can be renumbered at a merge.
const DIRECTORY: &str = r#"
-- `panel`: enrolled on a panel (self-enrollment, technician, CLI); `directory`: bound by a
-- sync from the directory's badge attribute. A sync only ever removes `directory` cards.
ALTER TABLE cards ADD COLUMN source TEXT NOT NULL DEFAULT 'panel'
    CHECK (source IN ('panel', 'directory'));

-- Every tenant user the users delta described (scope is decided from dir_members), with
-- tombstones: a deleted user keeps its row with deleted = 1, so a panel user it provisioned can
-- still be revoked. The badge is kept as the device key's hash and a masked suffix only.
CREATE TABLE dir_users (
    oid             TEXT PRIMARY KEY NOT NULL,
    upn             TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    mail            TEXT,
    mail_nickname   TEXT,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    deleted         INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    attrs_json      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attrs_json)),
    card_hash       BLOB CHECK (card_hash IS NULL OR length(card_hash) = 32),
    card_masked     TEXT,
    -- Why the badge attribute could not be used (never the value itself).
    card_error      TEXT,
    -- 1 once a sync provisioned this user on the panel: leaving the scope then revokes.
    managed         INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1)),
    -- Full resync number that last saw the row (mark and sweep).
    seen_epoch      INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX dir_users_card ON dir_users (card_hash) WHERE card_hash IS NOT NULL;
CREATE INDEX dir_users_managed ON dir_users (oid) WHERE managed = 1;

-- Direct members of the tracked groups (users and nested groups).
CREATE TABLE dir_members (
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    is_group    INTEGER NOT NULL CHECK (is_group IN (0, 1)),
    seen_epoch  INTEGER NOT NULL,
    PRIMARY KEY (group_id, member_id)
) STRICT, WITHOUT ROWID;

-- The delta link of each query (`users`, `groups`), written in the transaction of the last
-- page it covers; `scope` is what the link was made for (the groups filter).
CREATE TABLE dir_sync (
    name        TEXT PRIMARY KEY NOT NULL,
    link        TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT '',
    epoch       INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- One row per sync run or offboarding check.
CREATE TABLE provisioning_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    outcome     TEXT NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'ok', 'failed', 'interrupted')),
    counts_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts_json)),
    error       TEXT
) STRICT;
CREATE INDEX provisioning_runs_by_start ON provisioning_runs (started_at);

-- What a run changed for one user, and why. Masked badge suffixes only.
CREATE TABLE provisioning_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES provisioning_runs (id) ON DELETE CASCADE,
    user_oid    TEXT NOT NULL,
    upn         TEXT NOT NULL,
    change      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX provisioning_changes_by_run ON provisioning_changes (run_id);
CREATE INDEX provisioning_changes_by_user ON provisioning_changes (user_oid, run_id);
CREATE INDEX provisioning_changes_by_upn ON provisioning_changes (upn COLLATE NOCASE, run_id);
"#;

/// Fleet-wide enrollment (`directory.write_cards`): the durable queue of cards enrolled on this
/// panel that the directory worker writes to the user's directory attribute.
const CARD_WRITES: &str = r#"
-- One row per (user, card) to write. The number is needed in clear to write it, so it is kept
-- sealed with the device key (AES-GCM, bound to the user), never in clear; `masked` is for
-- display. `state`: queued (due at next_at), done, failed (Graph refused for good: the reason
-- is in last_error), dropped (the card was unbound or moved before it could be written).
CREATE TABLE dir_card_writes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_oid    TEXT NOT NULL REFERENCES users (oid) ON DELETE CASCADE,
    card_hash   BLOB NOT NULL CHECK (length(card_hash) = 32),
    card_sealed TEXT NOT NULL,
    masked      TEXT NOT NULL,
    queued_at   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'done', 'failed', 'dropped')),
    last_error  TEXT,
    done_at     TEXT,
    UNIQUE (user_oid, card_hash)
) STRICT;
CREATE INDEX dir_card_writes_due ON dir_card_writes (next_at) WHERE state = 'queued';
"#;

/// The settings a job was scanned with (sides, colour, resolution, page size, source, picked
/// folder, typed name), as JSON; NULL for jobs from before the settings sheet.
const JOB_SCAN_SETTINGS: &str = r#"
ALTER TABLE jobs ADD COLUMN scan_settings TEXT
    CHECK (scan_settings IS NULL OR json_valid(scan_settings));
"#;

/// Local accounts (issue 13): people without an Entra account, created on the panel. Every user
/// row says how it signs in; a row can never change its login method, so an Entra user can't be
/// turned into a local one (that would bypass the directory). (Which identity delivers a job
/// is recorded in its `destination` JSON, see `workflow::outbox::JobDestination`.)
const LOCAL_ACCOUNTS: &str = r#"
ALTER TABLE users ADD COLUMN login_method TEXT NOT NULL DEFAULT 'entra'
    CHECK (login_method IN ('entra', 'local'));
CREATE TRIGGER users_login_method_fixed BEFORE UPDATE OF login_method ON users
    WHEN OLD.login_method != NEW.login_method
BEGIN
    SELECT RAISE(ABORT, 'login_method of a user cannot change');
END;

CREATE TABLE local_accounts (
    user_oid        TEXT PRIMARY KEY NOT NULL REFERENCES users (oid) ON DELETE CASCADE,
    -- Last day (panel clock, UTC) the account may sign in; NULL never expires.
    expires_on      TEXT,
    workflows_json  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(workflows_json)),
    disabled_at     TEXT,
    created_by      TEXT NOT NULL
) STRICT;
"#;

/// The SCIM endpoint (issue 11): resources as Entra's provisioning service sent them. The
/// panel's view of each user (status, badges) is staged in `dir_users` and applied like a
/// directory sync; card numbers are never stored here (write-only: hashes live in `cards`).
const SCIM: &str = r#"
CREATE TABLE scim_users (
    id            TEXT PRIMARY KEY,
    oid           TEXT NOT NULL UNIQUE,
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL UNIQUE,
    external_id   TEXT,
    work_email    TEXT,
    active        INTEGER NOT NULL,
    doc           TEXT NOT NULL,
    cards_json    TEXT NOT NULL DEFAULT '[]',
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE INDEX scim_users_external ON scim_users (external_id);
CREATE INDEX scim_users_work_email ON scim_users (work_email COLLATE NOCASE);
CREATE TABLE scim_groups (
    id               TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL UNIQUE,
    external_id      TEXT,
    doc              TEXT NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE INDEX scim_groups_external ON scim_groups (external_id);
CREATE TABLE scim_members (
    group_id TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX scim_members_user ON scim_members (user_id);
"#;

static MIGRATIONS: &[M<'static>] = &[
    M::up(V1).foreign_key_check(),
    M::up(V2),
    M::up(V3),
    M::up(CARDS_ADMIN).foreign_key_check(),
    M::up(SERVICE_PIN),
    M::up(DIRECTORY).foreign_key_check(),
    M::up(CARD_WRITES).foreign_key_check(),
    M::up(JOB_SCAN_SETTINGS),
    M::up(LOCAL_ACCOUNTS).foreign_key_check(),
    M::up(SCIM).foreign_key_check(),
];

/// The `user_version` a database has once every migration ran.
pub(super) fn latest_version() -> usize {
    MIGRATIONS.len()
}

pub(super) fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }

    /// A panel updated from V1 keeps its cards and finds its existing users by search.
    #[test]
    fn cards_admin_migration_upgrades_a_filled_v1_database() {
        use rusqlite_migration::Migrations;
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        Migrations::from_slice(&super::MIGRATIONS[..1])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO users (oid, tenant_id, upn, display_name, username, status, created_at,
                 updated_at, last_online_at)
             VALUES ('o1', 't', 'megan@contoso.com', 'Megan Bowen', 'msp-megan', 'active',
                 '2025-03-01T09:00:00.000000000Z', '2025-03-01T09:00:00.000000000Z',
                 '2025-03-01T09:00:00.000000000Z'),
                    ('o2', 't', 'gone@contoso.com', 'Gone Bowen', 'msp-gone', 'revoked',
                 '2025-03-01T09:00:00.000000000Z', '2025-03-01T09:00:00.000000000Z',
                 '2025-03-01T09:00:00.000000000Z');
             INSERT INTO cards (hash, user_oid, masked, bound_at)
             VALUES (zeroblob(32), 'o1', '•••• 1234', '2025-03-01T09:00:00.000000000Z');",
        )
        .unwrap();
        let store = super::super::Store::init(conn).unwrap();
        let hits = store.search_users("bowen", 50).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].user.oid, "o1");
        let cards = store.cards_for_user("o1").unwrap();
        assert_eq!(cards.len(), 1);
        assert_eq!(
            (cards[0].bound_by.as_deref(), cards[0].last_used_at),
            (None, None)
        );
    }
}
