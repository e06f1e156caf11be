//! SQLite store: connection set-up (WAL, foreign keys), migrations, one repository per table group.
