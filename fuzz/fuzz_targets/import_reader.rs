//! The import reader: any bytes as an import file, through a dry-run import on an in-memory
//! store (the reader cuts records, each is decoded and checked as create checks it). Entry
//! points: `kith::Kith::{open_in_memory, import_identities}` with `ImportSource`,
//! `ImportOptions { dry_run: true, .. }`; the reader itself (`flows::import::read_records`)
//! is not public.
//!
//! The first input byte picks how the bytes arrive (in reads of 1 to 64 bytes, as from a
//! pipe): the outcomes must not depend on it, and every record has one outcome.
#![no_main]

use kith::Admin as _;
use kith::Kith;
use kith::flows::{ImportOptions, ImportOutcome, ImportResult, ImportSource};
use libfuzzer_sys::fuzz_target;
use std::io::{BufReader, Cursor, Read};

thread_local! {
    static KITH: Kith = {
        let kith = Kith::open_in_memory().expect("in-memory store");
        kith.set_config("hashers.algorithm", "bcrypt").expect("bcrypt");
        kith.set_config("hashers.bcrypt.cost", "4").expect("cost 4");
        kith
    };
}

/// Hands out at most `step` bytes per read.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.data[self.at..];
        let n = self.step.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// Each outcome as JSON, with the (random) ids of dry-run creates left out.
fn import(source: ImportSource) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    let options = ImportOptions {
        dry_run: true,
        chunk_size: 16,
        ..ImportOptions::default()
    };
    let summary = KITH.with(|kith| {
        kith.import_identities(vec![source], &options, &mut |result: &ImportResult| {
            let mut shown = serde_json::to_value(result).expect("a result serializes");
            if let ImportOutcome::Create { .. } = result.outcome {
                shown["identity"] = serde_json::Value::Null;
            }
            seen.push(shown);
        })
    });
    let summary = summary.expect("a dry run on an in-memory store does not fail");
    assert_eq!(
        summary.created + summary.skipped + summary.failed,
        seen.len() as u64,
        "the summary does not count the results"
    );
    seen
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let whole = import(ImportSource {
        name: "fuzz".into(),
        reader: Box::new(Cursor::new(data.to_vec())),
    });
    let trickle = Trickle {
        data: data.to_vec(),
        at: 0,
        step: usize::from(step % 64) + 1,
    };
    let trickled = import(ImportSource {
        name: "fuzz".into(),
        reader: Box::new(BufReader::with_capacity(64, trickle)),
    });
    assert_eq!(whole, trickled, "outcomes depend on how the input was read");
});
