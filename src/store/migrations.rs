//! Numbered migrations tracked in `PRAGMA user_version`.
//!
//! NEVER EDIT A SHIPPED MIGRATION: files in the field were built by it. Add a new one.

use super::{Result, StoreError};
use rusqlite::Connection;

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: identities, credentials, addresses, schemas, settings, audit events.
    r#"
    CREATE TABLE identities (
        id               BLOB PRIMARY KEY,
        schema_id        TEXT NOT NULL,
        state            TEXT NOT NULL CHECK (state IN ('active', 'inactive')),
        state_changed_at TEXT,
        traits           TEXT NOT NULL,
        metadata_public  TEXT,
        metadata_admin   TEXT,
        external_id      TEXT,
        organization_id  BLOB,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX identities_external_id ON identities (external_id) WHERE external_id IS NOT NULL;

    CREATE TABLE credentials (
        identity_id BLOB NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
        type        TEXT NOT NULL,
        config      TEXT NOT NULL,
        version     INTEGER NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (identity_id, type)
    ) WITHOUT ROWID;

    -- Unique per credential type: the same string may log in by password and by code.
    CREATE TABLE credential_identifiers (
        type        TEXT NOT NULL,
        identifier  TEXT NOT NULL,
        identity_id BLOB NOT NULL,
        position    INTEGER NOT NULL,
        PRIMARY KEY (type, identifier),
        FOREIGN KEY (identity_id, type) REFERENCES credentials (identity_id, type) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX credential_identifiers_identity ON credential_identifiers (identity_id, type);

    -- Address ids are fresh UUIDs and never looked up: no index of their own, one less
    -- B-tree to update per address (imports write two addresses per identity).
    CREATE TABLE verifiable_addresses (
        id          BLOB NOT NULL,
        identity_id BLOB NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
        via         TEXT NOT NULL,
        value       TEXT NOT NULL,
        verified    INTEGER NOT NULL,
        status      TEXT NOT NULL,
        verified_at TEXT,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        UNIQUE (via, value)
    );
    CREATE INDEX verifiable_addresses_identity ON verifiable_addresses (identity_id);

    CREATE TABLE recovery_addresses (
        id          BLOB NOT NULL,
        identity_id BLOB NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
        via         TEXT NOT NULL,
        value       TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        UNIQUE (via, value)
    );
    CREATE INDEX recovery_addresses_identity ON recovery_addresses (identity_id);

    CREATE TABLE schemas (
        id         TEXT PRIMARY KEY,
        schema     TEXT NOT NULL,
        created_at TEXT NOT NULL
    );

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    -- Append-only. No foreign key: events outlive the identities they describe.
    CREATE TABLE audit_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        occurred_at TEXT NOT NULL,
        actor       TEXT NOT NULL,
        action      TEXT NOT NULL,
        identity_id BLOB,
        detail      TEXT
    );
    CREATE INDEX audit_events_identity ON audit_events (identity_id, id);
    "#,
    // 2: import runs, and which run created an identity (so a run can be undone).
    r#"
    CREATE TABLE import_runs (
        id          BLOB PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        actor       TEXT NOT NULL,
        sources     TEXT NOT NULL,
        created     INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        failed      INTEGER NOT NULL DEFAULT 0
    );
    ALTER TABLE identities ADD COLUMN import_run BLOB;
    CREATE INDEX identities_import_run ON identities (import_run) WHERE import_run IS NOT NULL;
    "#,
    // 3: invites (admin recovery flows) and their deliveries. Codes and tokens are kept only
    // as keyed hashes.
    r#"
    CREATE TABLE invites (
        id          BLOB PRIMARY KEY,
        flow_id     BLOB NOT NULL UNIQUE,
        identity_id BLOB NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN ('invite', 'recovery_code', 'recovery_link')),
        address     TEXT,
        code_hash   TEXT,
        token_hash  TEXT UNIQUE,
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        submissions INTEGER NOT NULL DEFAULT 0,
        used_at     TEXT,
        revoked_at  TEXT,
        revoked_why TEXT,
        created_by  TEXT NOT NULL
    );
    CREATE INDEX invites_identity ON invites (identity_id);

    CREATE TABLE deliveries (
        invite_id  BLOB NOT NULL REFERENCES invites (id) ON DELETE CASCADE,
        plugin     TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('delivered', 'failed')),
        attempts   INTEGER NOT NULL,
        detail     TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (invite_id, plugin)
    ) WITHOUT ROWID;
    "#,
    // 4: plugins, each carried whole (manifest, config, component bytes) inside the file.
    r#"
    CREATE TABLE plugins (
        name         TEXT PRIMARY KEY,
        version      TEXT NOT NULL,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('trait-validator', 'invite-delivery', 'import-mapper')),
        manifest     TEXT NOT NULL,
        config       TEXT NOT NULL,
        grants       TEXT NOT NULL,
        wasm         BLOB NOT NULL,
        sha256       TEXT NOT NULL,
        enabled      INTEGER NOT NULL DEFAULT 1,
        installed_at TEXT NOT NULL
    );
    "#,
    // 5: API tokens of `kith serve`: only a SHA-256 of each token is kept.
    r#"
    CREATE TABLE tokens (
        name       TEXT PRIMARY KEY,
        hash       TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    );
    "#,
    // 6: credential identifiers keyed by their identity first. A DELETE on a WITHOUT ROWID
    // table walks its primary key; keyed by (type, identifier), every cascade from a deleted
    // credential (delete, update, a conflicting import record) scanned all identifiers of
    // that type. Uniqueness moves to its own index; the number of B-trees stays the same.
    r#"
    CREATE TABLE credential_identifiers_by_identity (
        type        TEXT NOT NULL,
        identifier  TEXT NOT NULL,
        identity_id BLOB NOT NULL,
        position    INTEGER NOT NULL,
        PRIMARY KEY (identity_id, type, identifier),
        FOREIGN KEY (identity_id, type) REFERENCES credentials (identity_id, type) ON DELETE CASCADE
    ) WITHOUT ROWID;
    INSERT INTO credential_identifiers_by_identity (type, identifier, identity_id, position)
        SELECT type, identifier, identity_id, position FROM credential_identifiers;
    DROP TABLE credential_identifiers;
    ALTER TABLE credential_identifiers_by_identity RENAME TO credential_identifiers;
    CREATE UNIQUE INDEX credential_identifiers_unique ON credential_identifiers (type, identifier);
    "#,
    // 7: the recovery key lives in a key file beside the store (`kith.db.key`); opening the
    // store moves a key kept in `settings` out (store::key). No table changes: the version
    // is raised so that an older kith refuses the file instead of making a new key in it,
    // which would silently break every open invite.
    "-- no table changes",
    // 8: a covering index for the fingerprint of the enabled plugins, which a server reads
    // on every call (store::plugins): from the table, each row's columns after its
    // component bytes are reached through the component's overflow pages.
    r#"
    CREATE INDEX IF NOT EXISTS plugins_enabled
        ON plugins (kind, enabled, name, sha256, installed_at);
    "#,
    // 9: the courier queue, in Kratos' shape (status and type as Kratos stores them: queued 1,
    // sent 2, processing 3, abandoned 4; email 1, sms 2), one dispatch row per attempt.
    // A message's plan (subject, body, live code and link) is kept only sealed under a key
    // derived from the recovery key (courier::seal), and wiped once it is sent or abandoned.
    // Times are milliseconds since the epoch, so they order as numbers. A message goes with
    // its invite, and so with its identity.
    r#"
    CREATE TABLE IF NOT EXISTS courier_messages (
        id              BLOB PRIMARY KEY,
        status          INTEGER NOT NULL CHECK (status IN (1, 2, 3, 4)),
        type            INTEGER NOT NULL CHECK (type IN (1, 2)),
        channel         TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        template_type   TEXT NOT NULL,
        plugin          TEXT NOT NULL,
        invite_id       BLOB REFERENCES invites (id) ON DELETE CASCADE,
        sealed          BLOB,
        send_count      INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        created_ms      INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS courier_messages_due ON courier_messages (status, next_attempt_ms);
    CREATE INDEX IF NOT EXISTS courier_messages_page ON courier_messages (created_ms DESC, id);
    CREATE INDEX IF NOT EXISTS courier_messages_invite ON courier_messages (invite_id);

    CREATE TABLE IF NOT EXISTS courier_dispatches (
        id          BLOB PRIMARY KEY,
        message_id  BLOB NOT NULL REFERENCES courier_messages (id) ON DELETE CASCADE,
        status      TEXT NOT NULL CHECK (status IN ('failed', 'success')),
        error       TEXT,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS courier_dispatches_message ON courier_dispatches (message_id, created_ms);
    "#,
    // 10: where the redemption page sends the invitee after the password is set (Kratos'
    // `return_to`), checked against the allow-list when the flow was opened. A table of its
    // own rather than a column: SQLite has no `ADD COLUMN IF NOT EXISTS`, and this must be
    // safe to run again on a file whose version was set back.
    r#"
    CREATE TABLE IF NOT EXISTS invite_return_to (
        invite_id BLOB PRIMARY KEY REFERENCES invites (id) ON DELETE CASCADE,
        return_to TEXT NOT NULL
    );
    "#,
    // 11: password migration. A plugin kind `password-migration` (SQLite cannot change a
    // CHECK in place, so `plugins` is copied into a table with the wider one); and the hash
    // another system left, kept beside a password credential flagged
    // `use_password_migration_hook` until the plugin has verified it. A table of its own,
    // not a config field: Kratos stores only the flag, and what Kratos shows stays the
    // config. It goes with its credential (a cascade), so every rewrite of the credential
    // drops it unless the rewrite writes it again. Safe to run again (see 10).
    r#"
    CREATE TABLE plugins_with_migration (
        name         TEXT PRIMARY KEY,
        version      TEXT NOT NULL,
        kind         TEXT NOT NULL
                     CHECK (kind IN ('trait-validator', 'invite-delivery', 'import-mapper',
                                     'password-migration')),
        manifest     TEXT NOT NULL,
        config       TEXT NOT NULL,
        grants       TEXT NOT NULL,
        wasm         BLOB NOT NULL,
        sha256       TEXT NOT NULL,
        enabled      INTEGER NOT NULL DEFAULT 1,
        installed_at TEXT NOT NULL
    );
    INSERT INTO plugins_with_migration (name, version, kind, manifest, config, grants, wasm,
                                        sha256, enabled, installed_at)
        SELECT name, version, kind, manifest, config, grants, wasm, sha256, enabled, installed_at
        FROM plugins;
    DROP TABLE plugins;
    ALTER TABLE plugins_with_migration RENAME TO plugins;
    CREATE INDEX IF NOT EXISTS plugins_enabled
        ON plugins (kind, enabled, name, sha256, installed_at);

    CREATE TABLE IF NOT EXISTS legacy_password_hashes (
        identity_id BLOB NOT NULL,
        type        TEXT NOT NULL CHECK (type = 'password'),
        hash        TEXT NOT NULL,
        PRIMARY KEY (identity_id, type),
        FOREIGN KEY (identity_id, type) REFERENCES credentials (identity_id, type) ON DELETE CASCADE
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this kith writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses a file that is not at this kith's version, without changing it (a read-only open).
///
/// # Errors
/// [`StoreError::TooNew`] or [`StoreError::TooOld`]; SQLite's error otherwise.
pub fn check_current(conn: &Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match found.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Greater => Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
        std::cmp::Ordering::Less => Err(StoreError::TooOld {
            found,
            supported: SCHEMA_VERSION,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Applies every migration the file has not seen, each in its own transaction.
///
/// # Errors
/// [`StoreError::TooNew`] for a file from a newer kith; SQLite's error otherwise.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while this one waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if now > index as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_to_an_empty_file_and_are_idempotent() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn)?;
        migrate(&mut conn)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        assert_eq!(version, SCHEMA_VERSION);
        Ok(())
    }

    #[test]
    fn a_file_from_the_first_version_is_brought_up_to_date_and_keeps_its_rows() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(MIGRATIONS[0])?;
        conn.pragma_update(None, "user_version", 1)?;
        conn.execute(
            "INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) \
             VALUES (x'01', 'preset://email', 'active', '{}', 't', 't')",
            [],
        )?;
        conn.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')", [])?;
        migrate(&mut conn)?;
        let run: Option<Vec<u8>> =
            conn.query_row("SELECT import_run FROM identities", [], |r| r.get(0))?;
        assert_eq!(
            run, None,
            "identities of older files belong to no import run"
        );
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('import_runs', 'invites', 'deliveries', 'plugins')",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(tables, 4);
        let kept: String =
            conn.query_row("SELECT value FROM settings WHERE key = 'k'", [], |r| {
                r.get(0)
            })?;
        assert_eq!(kept, "v");
        Ok(())
    }

    #[test]
    fn version_11_keeps_installed_plugins_admits_migration_plugins_and_drops_legacy_hashes_with_their_credential()
    -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        for sql in &MIGRATIONS[..10] {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", 10)?;
        let plugin = |name: &str, kind: &str| {
            format!(
                "INSERT INTO plugins (name, version, kind, manifest, config, grants, wasm, sha256, \
                 installed_at) VALUES ('{name}', '0.1.0', '{kind}', '{{}}', '{{}}', '[]', x'00', 's', 't')"
            )
        };
        conn.execute_batch(&plugin("email-domain-policy", "trait-validator"))?;
        assert!(
            conn.execute_batch(&plugin("legacy-hashes", "password-migration"))
                .is_err(),
            "version 10 has no password-migration kind"
        );
        migrate(&mut conn)?;
        let kept: String = conn.query_row("SELECT kind FROM plugins", [], |r| r.get(0))?;
        assert_eq!(kept, "trait-validator");
        conn.execute_batch(&plugin("legacy-hashes", "password-migration"))?;
        conn.execute_batch(
            "INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) \
               VALUES (x'01', 'preset://email', 'active', '{}', 't', 't'); \
             INSERT INTO credentials (identity_id, type, config, version, created_at, updated_at) \
               VALUES (x'01', 'password', '{\"use_password_migration_hook\":true}', 1, 't', 't'); \
             INSERT INTO legacy_password_hashes (identity_id, type, hash) \
               VALUES (x'01', 'password', '$P$B...');",
        )?;
        conn.execute("DELETE FROM credentials WHERE identity_id = x'01'", [])?;
        let left: i64 = conn.query_row("SELECT count(*) FROM legacy_password_hashes", [], |r| {
            r.get(0)
        })?;
        assert_eq!(left, 0, "a legacy hash goes with its credential");
        Ok(())
    }

    #[test]
    fn a_newer_file_is_refused() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?;
        match migrate(&mut conn) {
            Err(StoreError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
        Ok(())
    }
}
