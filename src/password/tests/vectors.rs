//! Kratos' own test vectors (`hash/hasher_test.go`, `hash/hash_limits_test.go`,
//! `identity/handler_test.go`), read from the shared reference file at test time.

use super::super::{HashError, check_hash, verify_password};
use super::TestResult;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/reference/kratos-hash-vectors.json"
);

#[derive(serde::Deserialize)]
struct Vector {
    algorithm: String,
    password: String,
    hash: String,
    valid: bool,
    #[serde(default)]
    note: String,
    source: String,
}

fn load() -> Result<Vec<Vector>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(VECTORS).map_err(|e| format!("reading {VECTORS}: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

/// `verify_password` gives `Ok(true)` exactly for the vectors Kratos accepts.
///
/// The vectors are spread over two threads: a few (bcrypt cost 15, PBKDF2 with
/// SHA-3 at 100k iterations) dominate the run in an unoptimised test build.
#[test]
fn agrees_with_every_kratos_vector() -> TestResult {
    const WORKERS: usize = 2;
    let vectors = load()?;
    assert_eq!(vectors.len(), 153, "the reference file changed size");
    let mut disagreements: Vec<(usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let vectors = &vectors;
                scope.spawn(move || {
                    let mine = vectors.iter().enumerate().skip(worker).step_by(WORKERS);
                    mine.filter_map(|(i, v)| disagreement(i, v))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "a worker thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    disagreements.sort();
    assert!(
        disagreements.is_empty(),
        "{} of {} vectors disagree:\n{}",
        disagreements.len(),
        vectors.len(),
        disagreements
            .into_iter()
            .map(|(_, d)| d)
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

fn disagreement(i: usize, v: &Vector) -> Option<(usize, String)> {
    let got = verify_password(v.password.as_bytes(), &v.hash);
    let accepted = matches!(got, Ok(true));
    (accepted != v.valid).then(|| {
        let text = format!(
            "#{i} [{}] {} password={:?} hash={}: Kratos valid={}, kith {got:?} ({})",
            v.algorithm, v.source, v.password, v.hash, v.valid, v.note
        );
        (i, text)
    })
}

/// The vectors Kratos HEAD rejects with `ErrHashParametersOutOfBounds` are
/// refused as out of bounds by `check_hash` too, with no password involved.
#[test]
fn bounds_vectors_are_cost_out_of_bounds() -> TestResult {
    let vectors = load()?;
    let bounded: Vec<&Vector> = vectors
        .iter()
        .filter(|v| v.note.contains("ErrHashParametersOutOfBounds"))
        .collect();
    assert_eq!(
        bounded.len(),
        17,
        "expected the 17 hash_limits_test.go vectors"
    );
    for v in bounded {
        let got = check_hash(&v.hash);
        assert!(
            matches!(got, Err(HashError::CostOutOfBounds { .. })),
            "{} ({}): got {got:?}",
            v.hash,
            v.note
        );
    }
    Ok(())
}

/// Every vector Kratos accepts passes `check_hash`, i.e. would be importable.
#[test]
fn valid_vectors_are_importable() -> TestResult {
    let vectors = load()?;
    let refused: Vec<String> = vectors
        .iter()
        .filter(|v| v.valid)
        .filter_map(|v| {
            check_hash(&v.hash)
                .err()
                .map(|e| format!("{}: {e}", v.hash))
        })
        .collect();
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    Ok(())
}
