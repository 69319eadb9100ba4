//! Import through a mapper: an Auth0 export (users NDJSON, gzip, plus the password-hash export
//! joined by e-mail) through the first-party `auth0-import` plugin into a fresh file, beside
//! the same identities imported as createIdentityBody with no mapper, in the same run.
//!
//! `cargo bench --bench mapping` (100,000 records); `cargo bench --bench mapping -- 20000` for
//! another size. Needs the plugins built (`scripts/build-plugins`). Prints the median of three
//! runs of each: identities/s and peak RSS. `KITH_BENCH_BIN` replaces this build's binary
//! (e.g. a release build). `KITH_BENCH_BASELINE=OLD_KITH` runs an older binary too,
//! interleaved, with the mapper folder `KITH_BENCH_BASELINE_MAPPER` names (default: the same
//! `plugins/auth0-import`), so a change on either side is measured before and after in one run.

#[path = "support/fixture.rs"]
mod fixture;

use fixture::{HASH, binaries, kith, kith_command, numbers, timed_import};
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records = numbers().first().copied().unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let (users, hashes, bodies) = write_inputs(dir.path(), records)?;
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/auth0-import");
    assert!(
        plugin.join("auth0_import.wasm").is_file(),
        "build the plugins first: scripts/build-plugins"
    );
    let baseline_mapper = std::env::var_os("KITH_BENCH_BASELINE_MAPPER").map(PathBuf::from);
    let runs: Vec<(&str, PathBuf, PathBuf)> = binaries()
        .into_iter()
        .map(|(label, binary)| {
            let mapper = match label {
                "baseline" => baseline_mapper.clone().unwrap_or_else(|| plugin.clone()),
                _ => plugin.clone(),
            };
            (label, binary, mapper)
        })
        .collect();
    let mut mapped = vec![Vec::new(); runs.len()];
    let mut plain = vec![Vec::new(); runs.len()];
    for run in 0..3 {
        for (at, (label, binary, mapper)) in runs.iter().enumerate() {
            let store = dir.path().join(format!("{label}-mapped-{run}"));
            std::fs::create_dir(&store)?;
            kith(
                binary,
                &store,
                &["install", "plugin", mapper.to_str().unwrap_or_default()],
            );
            let args = [
                users.to_str().unwrap_or_default(),
                "--mapper",
                "auth0-import",
                "--password-hashes",
                hashes.to_str().unwrap_or_default(),
            ];
            mapped[at].push(import(binary, &store, &args, records)?);
            let store = dir.path().join(format!("{label}-plain-{run}"));
            std::fs::create_dir(&store)?;
            plain[at].push(import(
                binary,
                &store,
                &[bodies.to_str().unwrap_or_default()],
                records,
            )?);
        }
    }
    for (at, (label, _, _)) in runs.iter().enumerate() {
        for (what, runs) in [
            ("auth0-import mapper", &mut mapped[at]),
            ("no mapper (bodies)", &mut plain[at]),
        ] {
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (wall, peak) = runs[1];
            println!(
                "{label:<8} {what:<20} {:>9.0} identities/s  ({wall:.2} s wall, peak RSS {peak:.0} MiB)",
                records as f64 / wall
            );
        }
    }
    Ok(())
}

/// Auth0's user export (NDJSON, gzip) and password-hash export, and the createIdentityBody
/// records the mapper makes of them, for the run without a mapper.
fn write_inputs(dir: &Path, records: usize) -> std::io::Result<(PathBuf, PathBuf, PathBuf)> {
    let users_path = dir.join("users_nd.json.gz");
    let hashes_path = dir.join("hashes.ndjson");
    let bodies_path = dir.join("bodies.ndjson");
    let mut users = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(std::fs::File::create(&users_path)?),
        flate2::Compression::default(),
    );
    let mut hashes = std::io::BufWriter::new(std::fs::File::create(&hashes_path)?);
    let mut bodies = std::io::BufWriter::new(std::fs::File::create(&bodies_path)?);
    for n in 0..records {
        let id = format!("{n:024x}");
        writeln!(
            users,
            r#"{{"user_id":"auth0|{id}","email":"user{n}@example.org","email_verified":true,"given_name":"User","family_name":"{n}","created_at":"2021-03-04T05:06:07.000Z","identities":[{{"provider":"auth0","user_id":"{id}","connection":"Username-Password-Authentication","isSocial":false}}],"user_metadata":{{"plan":"free"}},"logins_count":3}}"#
        )?;
        writeln!(
            hashes,
            r#"{{"_id":{{"$oid":"{id}"}},"email_verified":true,"email":"user{n}@example.org","passwordHash":"{HASH}","password_set_date":{{"$date":"2021-03-04T05:06:07.412Z"}},"tenant":"bench","connection":"Username-Password-Authentication","_tmp_is_unique":true}}"#
        )?;
        writeln!(
            bodies,
            r#"{{"schema_id":"preset://email","external_id":"auth0|{id}","traits":{{"email":"user{n}@example.org","name":{{"first":"User","last":"{n}"}}}},"verifiable_addresses":[{{"value":"user{n}@example.org","via":"email","verified":true,"status":"completed"}}],"credentials":{{"password":{{"config":{{"hashed_password":"{HASH}"}}}}}},"metadata_public":{{"plan":"free"}}}}"#
        )?;
    }
    users.finish()?.flush()?;
    hashes.flush()?;
    bodies.flush()?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64 / (1 << 20) as f64);
    println!(
        "input: {records} Auth0 users ({:.1} MiB gzip) + hashes ({:.1} MiB); bodies {:.1} MiB",
        size(&users_path)?,
        size(&hashes_path)?,
        size(&bodies_path)?
    );
    Ok((users_path, hashes_path, bodies_path))
}

/// One import into `store`: wall seconds and peak RSS in MiB.
fn import(
    binary: &Path,
    store: &Path,
    args: &[&str],
    records: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut command = kith_command(binary, store);
    command.args(["import", "identities"]).args(args);
    timed_import(command, records)
}
