//! Streaming the records out of an import input: one createIdentityBody, a JSON array of
//! them, or NDJSON, read a record at a time so memory stays flat whatever the file size.

use serde::Deserializer as _;
use serde::de::{SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::io::BufRead;

/// One record as read, before it is decoded: its JSON text, or why it could not be read.
#[derive(Debug)]
pub struct RawRecord {
    /// `file:line` for NDJSON, `file[index]` for arrays, `file` for a single object.
    pub position: String,
    pub text: Result<String, String>,
}

/// Reads every record of `input`, calling `emit` for each in order. Stops early when `emit`
/// returns `false` (the consumer went away).
///
/// A malformed NDJSON line is reported and reading goes on with the next line; a malformed
/// array element ends that input, since nothing after it can be told apart reliably.
pub fn read_records(name: &str, mut input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    let first = match first_significant_byte(&mut input) {
        Ok(Some(byte)) => byte,
        Ok(None) => return,
        Err(error) => {
            emit(RawRecord {
                position: name.to_string(),
                text: Err(format!("could not read {name}: {error}")),
            });
            return;
        }
    };
    if first == b'[' {
        read_array(name, input, emit);
    } else {
        read_lines(name, input, emit);
    }
}

/// Peeks past leading whitespace (and a UTF-8 byte-order mark) without consuming the record.
fn first_significant_byte(input: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        if buffer.starts_with(&[0xEF, 0xBB, 0xBF]) {
            input.consume(3);
            continue;
        }
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                let byte = buffer[at];
                input.consume(at);
                return Ok(Some(byte));
            }
            None => {
                let len = buffer.len();
                input.consume(len);
            }
        }
    }
}

/// NDJSON, or one object that may span lines. The first line decides: when it holds a whole
/// JSON value the input is NDJSON; otherwise it is a single (pretty-printed) object.
fn read_lines(name: &str, mut input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    let mut line = String::new();
    let mut number = 0usize;
    let mut first = true;
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => number += 1,
            Err(error) => {
                emit(RawRecord {
                    position: format!("{name}:{}", number + 1),
                    text: Err(format!("could not read line {}: {error}", number + 1)),
                });
                return;
            }
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if first {
            first = false;
            if serde_json::from_str::<&RawValue>(trimmed).is_err()
                && !looks_like_a_broken_line(trimmed)
            {
                // A single object over several lines: it is one record, so reading it whole is fine.
                let mut rest = String::new();
                let text = input
                    .read_to_string(&mut rest)
                    .map(|_| format!("{line}{rest}"))
                    .map_err(|e| format!("could not read {name}: {e}"));
                emit(RawRecord {
                    position: name.to_string(),
                    text,
                });
                return;
            }
        }
        let keep_going = emit(RawRecord {
            position: format!("{name}:{number}"),
            text: Ok(trimmed.to_string()),
        });
        if !keep_going {
            return;
        }
    }
}

/// A first line that closes its object (`{...}`) but fails to parse is a broken NDJSON
/// record, not the start of a multi-line object.
fn looks_like_a_broken_line(line: &str) -> bool {
    line.starts_with('{') && line.ends_with('}')
}

/// A JSON array, one element at a time.
fn read_array(name: &str, input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    struct Elements<'a> {
        name: &'a str,
        emit: &'a mut dyn FnMut(RawRecord) -> bool,
        index: usize,
    }
    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON array of createIdentityBody objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            // An element that fails to parse ends the array: the error goes up and is
            // reported once, at the index of the element that broke.
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                let position = format!("{}[{}]", self.name, self.index);
                self.index += 1;
                if !(self.emit)(RawRecord {
                    position,
                    text: Ok(raw.get().to_string()),
                }) {
                    break;
                }
            }
            Ok(())
        }
    }
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    let mut index_seen = 0;
    let result = {
        let visitor = Elements {
            name,
            emit: &mut |record: RawRecord| {
                index_seen += 1;
                emit(record)
            },
            index: 0,
        };
        (&mut deserializer).deserialize_seq(visitor)
    };
    if let Err(error) = result {
        emit(RawRecord {
            position: format!("{name}[{index_seen}]"),
            text: Err(format!(
                "json: {error}; the rest of this input was not read"
            )),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(String, Result<String, String>)> {
        let mut records = Vec::new();
        read_records("in", text.as_bytes(), &mut |r| {
            records.push((r.position, r.text));
            true
        });
        records
    }

    #[test]
    fn ndjson_lines_are_records_and_a_bad_line_does_not_stop_the_rest() {
        let records = read("{\"a\":1}\n\n{\"a\":\n{\"a\":3}\n");
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(positions, ["in:1", "in:3", "in:4"]);
        assert_eq!(records[1].1.as_deref(), Ok("{\"a\":"));
        assert_eq!(records[2].1.as_deref(), Ok("{\"a\":3}"));
    }

    #[test]
    fn arrays_stream_their_elements() {
        let records = read(" [ {\"a\":1}, {\"b\":[1,2]} ]");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, "in[0]");
        assert_eq!(records[1].1.as_deref(), Ok("{\"b\":[1,2]}"));
    }

    #[test]
    fn a_broken_array_reports_where_it_broke() {
        let records = read("[{\"a\":1}, {\"a\": }, {\"a\":3}]");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "in[1]");
        assert!(records[1].1.is_err());
    }

    #[test]
    fn a_pretty_single_object_is_one_record() {
        let records = read("{\n  \"schema_id\": \"x\",\n  \"traits\": {}\n}\n");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, "in");
        let value: serde_json::Value =
            serde_json::from_str(records[0].1.as_ref().unwrap()).unwrap();
        assert_eq!(value["schema_id"], "x");
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(read("  \n\n").is_empty());
        assert!(read("").is_empty());
    }
}
