//! Import throughput: generated identities with pre-hashed bcrypt passwords imported into a
//! fresh file by the real `kith` binary, beside a plain rusqlite insert of the same rows
//! (the floor: what the disk and SQLite cost with no decoding, validation or bookkeeping).
//!
//! `cargo bench --bench import` (100,000 records); `cargo bench --bench import -- 1000000`
//! for another size. Prints the median of three runs of each: identities/s, and kith's peak RSS.
//! `KITH_BENCH_BIN` replaces this build's binary (e.g. a release build driven from a bench
//! built in the dev profile); `KITH_BENCH_BASELINE=/path/to/an/older/kith` runs that binary too, interleaved with this
//! build's in the same run, so a change is measured before and after on the same machine state.

#[path = "support/fixture.rs"]
mod fixture;

use fixture::{HASH, binaries, generated_input, import_once, numbers};
use rusqlite::params;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records = numbers().first().copied().unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let input = generated_input(dir.path(), records)?;

    // Three runs of each binary, interleaved, into fresh files; the median is reported.
    let binaries = binaries();
    let mut runs = vec![Vec::new(); binaries.len()];
    for run in 0..3 {
        for (which, (_, binary)) in binaries.iter().enumerate() {
            runs[which].push(import_once(binary, dir.path(), &input, records, run, &[])?);
        }
    }
    let mut floors = (0..3)
        .map(|run| floor(dir.path(), records, run))
        .collect::<Result<Vec<_>, _>>()?;
    floors.sort_by(f64::total_cmp);
    let floor = floors[1];
    for ((label, _), mut runs) in binaries.iter().zip(runs) {
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (wall, peak) = runs[1];
        let kith_rate = records as f64 / wall;
        println!(
            "kith import ({label:<8}) {kith_rate:>9.0} identities/s  ({wall:.2} s wall, peak RSS {peak:.0} MiB, {:.2}x the floor's time)",
            floor / kith_rate
        );
    }
    println!("rusqlite floor        {floor:>9.0} identities/s");
    Ok(())
}

/// The same rows kith writes for each record, inserted with prepared statements in
/// transactions of 1000, into a file with kith's own schema.
fn floor(
    dir: &std::path::Path,
    records: usize,
    run: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let path = dir.join(format!("floor-{run}.db"));
    drop(kith::Kith::open(&path)?);
    let mut conn = rusqlite::Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -32768)?;
    let now = "2026-11-30T09:00:00.123456789Z";
    let started = Instant::now();
    for chunk in (0..records).collect::<Vec<_>>().chunks(1000) {
        let tx = conn.transaction()?;
        {
            let mut identity = tx.prepare_cached(
                "INSERT INTO identities (id, schema_id, state, state_changed_at, traits, metadata_public, \
                 metadata_admin, external_id, organization_id, created_at, updated_at, import_run) \
                 VALUES (?1, 'preset://email', 'active', ?2, ?3, NULL, NULL, NULL, NULL, ?2, ?2, ?4)",
            )?;
            let mut credential = tx.prepare_cached(
                "INSERT INTO credentials (identity_id, type, config, version, created_at, updated_at) \
                 VALUES (?1, 'password', ?2, 1, ?3, ?3)",
            )?;
            let mut identifier = tx.prepare_cached(
                "INSERT INTO credential_identifiers (type, identifier, identity_id, position) VALUES ('password', ?1, ?2, 0)",
            )?;
            let mut verifiable = tx.prepare_cached(
                "INSERT INTO verifiable_addresses (id, identity_id, via, value, verified, status, verified_at, \
                 created_at, updated_at) VALUES (?1, ?2, 'email', ?3, 0, 'pending', NULL, ?4, ?4)",
            )?;
            let mut recovery = tx.prepare_cached(
                "INSERT INTO recovery_addresses (id, identity_id, via, value, created_at, updated_at) \
                 VALUES (?1, ?2, 'email', ?3, ?4, ?4)",
            )?;
            let mut event = tx.prepare_cached(
                "INSERT INTO audit_events (occurred_at, actor, action, identity_id, detail) \
                 VALUES (?1, 'bench', 'identity.created', ?2, ?3)",
            )?;
            let run = uuid::Uuid::now_v7();
            let detail = format!(r#"{{"import_run":"{run}"}}"#);
            for n in chunk {
                let id = uuid::Uuid::now_v7();
                let email = format!("user{n}@example.org");
                let traits =
                    format!(r#"{{"email":"{email}","name":{{"first":"User","last":"{n}"}}}}"#);
                identity.execute(params![id, now, traits, run])?;
                credential.execute(params![
                    id,
                    format!(r#"{{"hashed_password":"{HASH}"}}"#),
                    now
                ])?;
                identifier.execute(params![email, id])?;
                verifiable.execute(params![uuid::Uuid::now_v7(), id, email, now])?;
                recovery.execute(params![uuid::Uuid::now_v7(), id, email, now])?;
                event.execute(params![now, id, detail])?;
            }
        }
        tx.commit()?;
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}
