//! Remote import throughput: the same generated identities (pre-hashed bcrypt passwords)
//! imported by the real `kith` binary into a fresh file, and through `--endpoint` into a
//! fresh `kith serve` on loopback (`PATCH /admin/identities` in batches of 1000), in the same
//! run on the same machine. Figures, not assertions; the target is a remote rate of at least
//! half the local one.
//!
//! `cargo bench --bench remote` (100,000 records; `-- 20000` for another size, `-- 20000 3`
//! for the median of three runs of each). `KITH_BENCH_BIN` replaces this build's binary (a
//! release build, say) for the client and the server alike.

#[path = "support/fixture.rs"]
mod fixture;

use fixture::{Server, generated_input, import_once, numbers, this_kith};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let numbers = numbers();
    let records = numbers.first().copied().unwrap_or(100_000);
    let rounds = numbers.get(1).copied().unwrap_or(1).max(1);
    let dir = tempfile::tempdir()?;
    let input = generated_input(dir.path(), records)?;
    println!("{rounds} run(s) of each, the median reported");
    let binary = this_kith();
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for run in 0..rounds {
        local.push(import_once(&binary, dir.path(), &input, records, run, &[])?.0);
        let served = tempfile::tempdir()?;
        let server = Server::start(&binary, served.path());
        let endpoint = format!("http://{}", server.admin);
        let env = [
            ("KITH_ENDPOINT", endpoint.as_str()),
            ("KITH_TOKEN", server.token.as_str()),
        ];
        remote.push(import_once(&binary, dir.path(), &input, records, run, &env)?.0);
        server.stop();
    }
    let median = |walls: &mut Vec<f64>| {
        walls.sort_by(f64::total_cmp);
        walls[walls.len() / 2]
    };
    let local_rate = records as f64 / median(&mut local);
    let remote_rate = records as f64 / median(&mut remote);
    println!("local import          {local_rate:>9.0} identities/s");
    println!(
        "remote import (serve) {remote_rate:>9.0} identities/s  ({:.2}x the local rate; target 0.5x)",
        remote_rate / local_rate
    );
    Ok(())
}
