//! SQLite store: connection set-up (WAL, foreign keys), migrations, one repository per table group.
//!
//! One write connection behind a mutex, shared by clones of [`Store`]: every write is serialised
//! without extra locking logic. Reads on the panel's hot paths (the badge and PIN sign-in, SCIM
//! GETs) go to a few read-only connections instead: in WAL mode a reader never waits for a
//! writer, so a provisioning burst cannot hold up a sign-in's lookups. Bulk writers (the SCIM
//! endpoint) let the panel's own writes go first: they wait while a panel write is waiting for
//! the connection, so a panel write waits at most for the one SCIM transaction in flight. What
//! the panel records about a sign-in it has already decided (the card's last use, the audit
//! row) is written behind it ([`Store::write_behind`]): one thread, in order, and the reads of
//! cards and of the audit log wait until it has caught up, so nobody reads a state older than
//! the tap they saw. Calls block; async callers use `spawn_blocking`.
//!
//! Timestamps are stored as RFC 3339 UTC text with nanoseconds (`2025-03-01T09:00:00.000000000Z`):
//! readable in the sqlite shell, lossless, and fixed-width so text order is time order.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

mod audit;
mod card_writes;
mod cards;
mod directory;
mod import;
mod job_settings;
mod jobs;
mod local_users;
mod panel;
mod pins;
mod provisioning;
mod schema;
mod scim;
mod search;
mod tokens;
mod users;

pub use audit::{AuditEntry, AuditQuery};
pub use card_writes::{CardWrite, CardWriteCounts, CardWriteState};
pub use cards::{BindOutcome, BindResult, CardRecord, CardSource};
pub use directory::{
    AppliedChange, Candidate, CardHolder, DirUser, LinkUpdate, MemberDelta, Memberships, Plan,
    SyncLink,
};
pub use import::ImportCard;
pub use jobs::{JobRecord, JobState, NewJob};
pub use local_users::{LocalAccount, NewLocalUser, LOCAL_TENANT};
pub use pins::PinState;
pub use provisioning::{ProvisioningChange, ProvisioningQuery, ProvisioningRun, RunCounts};
pub use scim::{Planner, ScimActivity, ScimGroupRow, ScimUserRow, ScimWrite, UserField};
pub use search::{MatchRank, UserHit, MAX_SEARCH_RESULTS};
pub use users::Revoked;

/// How long a statement waits for a lock held by another process (e.g. the sqlite shell).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-only connections of a file database: the sign-in path and a SCIM GET at once.
const READERS: usize = 2;
/// How long a bulk writer sleeps between looks at the panel's waiting writes (a wake-up
/// normally comes sooner; this only bounds a missed one).
const BULK_RECHECK: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database directory or file: {0}")]
    Permissions(#[from] crate::fsmode::FsModeError),
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create database file {}: {source}", path.display())]
    CreateFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "database {} cannot be read ({source}): it is damaged or not this panel's database. \
         Stop the panel, move the file (and its -wal/-shm files) aside for inspection and \
         restore a backup; starting without it empties the identity cache (users sign in with \
         Microsoft again) and the outbox. Nothing was changed or re-created",
        path.display()
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no user with object id {0}")]
    UserNotFound(String),
    #[error("no scan job with id {0}")]
    JobNotFound(String),
    #[error("{field} {value:?} already belongs to another active user")]
    Conflict { field: &'static str, value: String },
    #[error("{field} cannot change: {reason}")]
    Immutable { field: &'static str, reason: String },
    #[error("database holds an invalid {what}: {value:?}")]
    Corrupt { what: &'static str, value: String },
}

impl StoreError {
    /// True when SQLite could not write because the disk (or the quota) is full.
    pub fn is_storage_full(&self) -> bool {
        let sqlite = match self {
            StoreError::Sqlite(e) | StoreError::Open { source: e, .. } => e,
            StoreError::CreateFile { source, .. } => {
                return crate::admin::storage::is_storage_full(source)
            }
            _ => return false,
        };
        sqlite.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
    }
}

/// Handle to the database; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Store {
    /// Empty for an in-memory database (a second connection would be another database) and
    /// when WAL is unavailable: reads then use `conn`. Declared (so dropped) before `conn`:
    /// the last connection to close checkpoints the WAL and removes it, which a read-only one
    /// cannot do; a WAL left behind holds disk space that a full disk needs back.
    readers: Arc<Readers>,
    conn: Arc<Mutex<Connection>>,
    gate: Arc<Gate>,
    behind: Arc<Behind>,
}

type BehindJob = Box<dyn FnOnce(&Store) + Send>;

/// The write-behind queue: its thread starts with the first job.
#[derive(Default)]
struct Behind {
    sender: Mutex<Option<std::sync::mpsc::Sender<BehindJob>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    pending: Arc<Pending>,
}

impl Drop for Behind {
    /// The last handle with this queue is going (the process is ending, or a command is
    /// done): the writes queued behind still happen, and the thread's own handle, the last
    /// one holding the connections, is gone before this returns, so they close in order
    /// (readers, then the writer, which checkpoints and removes the WAL).
    fn drop(&mut self) {
        let sender = self.sender.get_mut().unwrap_or_else(|e| e.into_inner());
        drop(sender.take());
        let thread = self.thread.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = thread.take() {
            if t.join().is_err() {
                tracing::warn!("the store's write-behind thread panicked");
            }
        }
    }
}

/// Jobs queued and not yet done.
#[derive(Default)]
struct Pending {
    n: Mutex<usize>,
    zero: Condvar,
}

impl Pending {
    fn add(&self) {
        *self.n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn done(&self) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.zero.notify_all();
        }
    }

    fn wait_zero(&self) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.zero.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[derive(Default)]
struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// Lets the panel's writes overtake bulk ones (see the module docs).
#[derive(Default)]
struct Gate {
    /// Panel callers waiting for (or about to take) the write connection.
    panel_waiting: AtomicUsize,
    /// One bulk writer at a time waits in front of the connection.
    bulk_turn: Mutex<()>,
    m: Mutex<()>,
    clear: Condvar,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// The schema version (`PRAGMA user_version`) of a database this build has brought up to date.
pub fn schema_version() -> usize {
    schema::latest_version()
}

impl Store {
    /// Opens (creating if needed) the database file and brings the schema up to date.
    ///
    /// A new file is created 0600 in a 0700 directory ([`crate::fsmode`]): it holds card hashes,
    /// PIN hashes and sealed tokens. SQLite gives the `-wal` and `-shm` files the same mode as
    /// the database; an existing database of ours that is open to others is tightened.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::fsmode::private_dir(dir)?;
        }
        match crate::fsmode::create_private_file(path) {
            Ok(_) => tracing::info!(path = %path.display(), "created a new database"),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut name = path.as_os_str().to_owned();
                    name.push(suffix);
                    crate::fsmode::tighten_file(Path::new(&name))?;
                }
            }
            Err(source) => {
                return Err(StoreError::CreateFile {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // The first statement reads the header: a damaged file or another program's file
        // fails here, and is reported by name rather than silently replaced.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|source| match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    StoreError::Unreadable {
                        path: path.to_path_buf(),
                        source,
                    }
                }
                _ => StoreError::Sqlite(source),
            })?;
        let wal = mode.eq_ignore_ascii_case("wal");
        if !wal {
            tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
        }
        let mut store = Self::init(conn)?;
        if wal {
            // A CLI command ends with `process::exit`, so its connections never close and the
            // WAL it wrote stays on disk. Fold what an earlier process left into the main file
            // and cut the WAL back now, best effort: on a full disk that is the space the next
            // writes need. `journal_size_limit` keeps a WAL from staying large after a reset.
            let folded = store.with(|c| {
                c.execute_batch("PRAGMA journal_size_limit = 1048576")?;
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                Ok(())
            });
            if let Err(e) = folded {
                tracing::debug!(error = %e, "no WAL checkpoint at open");
            }
            store.readers = Arc::new(open_readers(path)?);
        }
        Ok(store)
    }

    /// Another handle on the same database with reader connections of its own (the same
    /// write connection and write-behind queue): for the SCIM endpoint, whose threads run at
    /// background priority. Sharing readers, a panel read could wait for a connection such a
    /// thread holds while the scheduler lets it wait (priority inversion). A store without
    /// readers (in memory, no WAL) is simply cloned.
    pub fn with_own_readers(&self) -> Result<Store, StoreError> {
        if self.readers.conns.is_empty() {
            return Ok(self.clone());
        }
        let path = {
            let conn = self.lock();
            conn.path().filter(|p| !p.is_empty()).map(PathBuf::from)
        };
        let Some(path) = path else {
            return Ok(self.clone());
        };
        Ok(Store {
            readers: Arc::new(open_readers(&path)?),
            conn: self.conn.clone(),
            gate: self.gate.clone(),
            behind: self.behind.clone(),
        })
    }

    /// A private in-memory database (tests, `doctor` dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // FULL: a committed outbox row survives a power cut, which NORMAL does not promise in WAL.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrations().to_latest(&mut conn)?;
        let scrubbed = Store::scrub_clear_upload_urls(&conn)?;
        if scrubbed > 0 {
            tracing::warn!(
                jobs = scrubbed,
                "removed upload-session URLs stored in clear by an older version"
            );
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Readers::default()),
            gate: Arc::new(Gate::default()),
            behind: Arc::new(Behind::default()),
        })
    }

    /// The directory of the database file (`None` for an in-memory store).
    pub fn dir(&self) -> Option<PathBuf> {
        let conn = self.lock();
        let path = conn.path().filter(|p| !p.is_empty())?;
        Path::new(path).parent().map(Path::to_path_buf)
    }

    /// Runs `f` with exclusive use of the write connection.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut self.lock())
    }

    /// Runs the read `f` on a reader connection (on the write connection when there is none):
    /// it sees every committed write and waits for none in progress.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conns = &self.readers.conns;
        if conns.is_empty() {
            return self.with(|c| f(c));
        }
        let first = self.readers.next.fetch_add(1, Ordering::Relaxed) % conns.len();
        let g = (0..conns.len())
            .find_map(|i| conns[(first + i) % conns.len()].try_lock().ok())
            .unwrap_or_else(|| conns[first].lock().unwrap_or_else(|e| e.into_inner()));
        f(&g)
    }

    /// Runs `f` inside one transaction, committed when `f` succeeds. Every transaction here
    /// writes, so it starts IMMEDIATE: a deferred one that reads first and then writes gets
    /// SQLITE_BUSY at once (no busy wait) when another process (the panel and `mfp-kiosk
    /// outbox run`) committed in between; an immediate one waits [`BUSY_TIMEOUT`] for the lock.
    fn with_transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        transact(&mut self.lock(), f)
    }

    /// [`Store::with_transaction`] for a bulk writer (SCIM): waits while a panel write waits,
    /// and only one bulk writer at a time queues for the connection, so the panel overtakes
    /// all but the transaction in flight.
    fn with_bulk_transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _turn = self
            .gate
            .bulk_turn
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        {
            let mut m = self.gate.m.lock().unwrap_or_else(|e| e.into_inner());
            while self.gate.panel_waiting.load(Ordering::SeqCst) > 0 {
                m = self
                    .gate
                    .clear
                    .wait_timeout(m, BULK_RECHECK)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        transact(&mut g, f)
    }

    /// The write connection, for the panel: counted as waiting until it has it, so bulk
    /// writers hold back meanwhile.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.gate.panel_waiting.fetch_add(1, Ordering::SeqCst);
        // A panic while holding the lock cannot leave a half-done write behind: open transactions
        // roll back when dropped during unwinding. So the connection is still usable.
        let g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if self.gate.panel_waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Under `m`: a bulk writer between its check and its wait cannot miss this.
            let _m = self.gate.m.lock().unwrap_or_else(|e| e.into_inner());
            self.gate.clear.notify_all();
        }
        g
    }

    /// Runs the write `f` after the caller has answered: on the store's write-behind thread,
    /// in the order queued. For what the panel records about a decision already made (a
    /// card's last use, a sign-in's audit row), so the person at the panel never waits for a
    /// provisioning burst's writes. `f` reports its own errors (it has nobody to return to).
    pub fn write_behind(&self, f: impl FnOnce(&Store) + Send + 'static) {
        let mut sender = self.behind.sender.lock().unwrap_or_else(|e| e.into_inner());
        if sender.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<BehindJob>();
            // The thread's own handle has no queue: it ends when the last of ours drops.
            let store = Store {
                conn: self.conn.clone(),
                readers: self.readers.clone(),
                gate: self.gate.clone(),
                behind: Arc::new(Behind::default()),
            };
            let pending = self.behind.pending.clone();
            let spawned = std::thread::Builder::new()
                .name("store-behind".into())
                .spawn(move || {
                    for job in rx {
                        job(&store);
                        pending.done();
                    }
                });
            match spawned {
                Ok(t) => {
                    *sender = Some(tx);
                    *self.behind.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no write-behind thread; writing at once");
                    drop(sender);
                    return f(self);
                }
            }
        }
        self.behind.pending.add();
        let job: BehindJob = Box::new(f);
        let failed = match sender.as_ref() {
            Some(tx) => tx.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        drop(sender);
        if let Some(job) = failed {
            self.behind.pending.done();
            job(self);
        }
    }

    /// Waits until every write queued behind so far is done (reads of cards and the audit
    /// log, a checkpoint).
    fn settled(&self) {
        self.behind.pending.wait_zero();
    }

    /// The value of a pragma, for diagnostics (`journal_mode`, `foreign_keys`, `user_version`).
    pub fn pragma(&self, name: &str) -> Result<String, StoreError> {
        self.with(|c| {
            Ok(c.pragma_query_value(None, name, |r| {
                let v: rusqlite::types::Value = r.get(0)?;
                Ok(match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
            })?)
        })
    }

    /// Checkpoints the WAL into the main file (before a backup or shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.settled();
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

/// [`READERS`] read-only connections to the database at `path`.
fn open_readers(path: &Path) -> Result<Readers, StoreError> {
    let mut conns = Vec::with_capacity(READERS);
    for _ in 0..READERS {
        let r = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        r.busy_timeout(BUSY_TIMEOUT)?;
        conns.push(Mutex::new(r));
    }
    Ok(Readers {
        conns,
        next: AtomicUsize::new(0),
    })
}

/// One IMMEDIATE transaction on `c` around `f`.
fn transact<T>(
    c: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt {
            what: "timestamp",
            value: s.to_string(),
        })
}

/// Reads a timestamp column inside a row mapper, reporting corruption as a conversion error.
pub(crate) fn col_ts(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    parse_ts(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(crate) fn col_ts_opt(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        parse_ts(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_roundtrip_and_sort() {
        let a = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
        let b = a + chrono::Duration::nanoseconds(1);
        assert_eq!(parse_ts(&ts(b)).unwrap(), b);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a), "2025-03-01T09:00:00.000000000Z");
        assert!(parse_ts("yesterday").is_err());
    }

    #[test]
    fn a_write_behind_is_in_the_audit_log_before_anyone_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        // The first job holds the write-behind thread, so the second cannot have run when the
        // reader starts: the reader only sees the row if it waits for the queue.
        s.write_behind(move |_| gate.recv().unwrap());
        s.write_behind(|s| {
            s.append_audit("o1", "sign_in", Some("o1"), Some("Card"), Utc::now())
                .unwrap();
        });
        let reader = {
            let s = s.clone();
            std::thread::spawn(move || s.recent_audit(10).unwrap())
        };
        go.send(()).unwrap();
        let rows = reader.join().unwrap();
        assert!(rows.iter().any(|r| r.action == "sign_in"), "{rows:?}");
        assert!(
            s.readers.conns.len() == READERS,
            "a file database has readers"
        );
    }

    #[test]
    fn a_handle_with_its_own_readers_reads_what_the_shared_writer_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let panel = Store::open(&dir.path().join("k.sqlite3")).unwrap();
        let scim = panel.with_own_readers().unwrap();
        assert!(!Arc::ptr_eq(&panel.readers, &scim.readers));
        assert!(Arc::ptr_eq(&panel.conn, &scim.conn), "one writer");
        assert_eq!(scim.readers.conns.len(), READERS);
        scim.upsert_user(&users::tests::user("o1", "adele"))
            .unwrap();
        assert!(panel.user_by_oid("o1").unwrap().is_some());
        panel
            .upsert_user(&users::tests::user("o2", "megan"))
            .unwrap();
        assert!(scim.user_by_oid("o2").unwrap().is_some());
        // In memory there is no second connection to the same database: a plain clone.
        let mem = Store::open_in_memory().unwrap();
        assert!(Arc::ptr_eq(
            &mem.conn,
            &mem.with_own_readers().unwrap().conn
        ));
    }

    #[test]
    fn the_last_handle_writes_what_is_behind_and_closes_the_wal_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.sqlite3");
        let s = Store::open(&path).unwrap();
        let reader = s.clone();
        for n in 0..20 {
            s.write_behind(move |s| {
                s.append_audit(
                    "o1",
                    "sign_in",
                    Some("o1"),
                    Some(&n.to_string()),
                    Utc::now(),
                )
                .unwrap();
            });
        }
        assert!(reader.recent_audit(1).is_ok());
        drop(reader);
        drop(s);
        let wal = dir.path().join("k.sqlite3-wal");
        assert!(!wal.exists(), "the WAL outlived the store");
        let again = Store::open(&path).unwrap();
        let rows = again.recent_audit(50).unwrap();
        assert_eq!(rows.iter().filter(|r| r.action == "sign_in").count(), 20);
    }

    #[test]
    fn store_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Store>();
    }
}
