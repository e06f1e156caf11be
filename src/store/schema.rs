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

/// Upload leases: which process holds a job it is uploading, and until when (workflow::lease).
const V3: &str = r#"
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
"#;

static MIGRATIONS: &[M<'static>] = &[M::up(V1).foreign_key_check(), M::up(V2), M::up(V3)];

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
}
