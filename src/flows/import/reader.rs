//! Streaming the records out of an import input: one createIdentityBody, a JSON array of
//! them, or NDJSON, read a record at a time so memory stays flat whatever the input.
//!
//! Every record is bounded ([`MAX_RECORD_BYTES`]) and a record that cannot be read (too
//! large, not UTF-8, not JSON) is reported at its position without taking its neighbours
//! down: NDJSON resynchronizes at the next line. Nothing here parses records: the preparing
//! stage does, on all cores.

use serde::Deserializer as _;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, Read};

/// The largest record read: a 5 MiB document (the bound on every stored document) plus
/// room for the rest of the body (credentials, the other metadata).
pub const MAX_RECORD_BYTES: usize = 6 << 20;

/// How far past [`MAX_RECORD_BYTES`] an oversized line is skipped in search of its end before
/// the input is given up on: an input without line breaks (`/dev/zero`) must end.
const MAX_SKIP_BYTES: u64 = 1 << 30;

/// One record as read, before it is decoded: its JSON text, or why it could not be read.
#[derive(Debug)]
pub struct RawRecord {
    /// `file:line` for NDJSON, `file[index]` for arrays, `file` for a single object.
    pub position: String,
    pub text: Result<String, String>,
    /// A record of another system (a CSV row, an LDIF entry, a Firebase user), which only a
    /// mapper turns into a createIdentityBody.
    pub foreign: bool,
}

/// Reads every record of `input`, calling `emit` for each in order. Stops early when `emit`
/// returns `false` (the consumer went away).
///
/// The first significant byte decides the shape: `[` is an array; otherwise the first
/// non-blank line is one record of NDJSON when it holds a whole JSON value. When it does
/// not, the input is a single (pretty-printed) object if all of it, within the record
/// bound, is one JSON value; else it is NDJSON whose first line is broken.
pub fn read_records(name: &str, input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    let mut input = Replay::new(input);
    let first =
        match skip_byte_order_mark(&mut input).and_then(|()| first_significant_byte(&mut input)) {
            Ok(Some(byte)) => byte,
            Ok(None) => return,
            Err(error) => {
                emit(RawRecord {
                    position: name.to_string(),
                    text: Err(format!("could not read {name}: {error}")),
                    foreign: false,
                });
                return;
            }
        };
    if first == b'[' {
        read_array(name, input, emit);
    } else if first == b'{' && starts_firebase_export(&mut input) {
        read_firebase(name, input, emit);
    } else {
        read_lines(name, input, emit);
    }
}

/// UTF-8's byte-order mark, which editors on Windows put in front of a file.
const BYTE_ORDER_MARK: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Skips a byte-order mark at the start of the input, byte by byte: a pipe may deliver it in
/// pieces, and the input must read the same however it arrives. A partial mark is put back.
fn skip_byte_order_mark<R: BufRead>(input: &mut Replay<R>) -> std::io::Result<()> {
    let mut seen = Vec::with_capacity(BYTE_ORDER_MARK.len());
    while seen.len() < BYTE_ORDER_MARK.len() {
        match input.fill_buf()?.first() {
            Some(&byte) if byte == BYTE_ORDER_MARK[seen.len()] => {
                seen.push(byte);
                input.consume(1);
            }
            _ => break,
        }
    }
    if !seen.is_empty() && seen.len() < BYTE_ORDER_MARK.len() {
        input.put_back(seen);
    }
    Ok(())
}

/// Peeks past leading whitespace without consuming the record.
fn first_significant_byte(input: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
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

/// An input with bytes put back in front of it: what was read ahead to decide whether a
/// broken first line starts a single object is read again, as lines, when it does not.
struct Replay<R> {
    pending: Vec<u8>,
    at: usize,
    input: R,
}

impl<R: BufRead> Replay<R> {
    fn new(input: R) -> Self {
        Self {
            pending: Vec::new(),
            at: 0,
            input,
        }
    }

    fn put_back(&mut self, bytes: Vec<u8>) {
        debug_assert!(self.at >= self.pending.len(), "put back only once drained");
        self.pending = bytes;
        self.at = 0;
    }
}

impl<R: BufRead> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Replay<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at < self.pending.len() {
            return Ok(&self.pending[self.at..]);
        }
        self.input.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if self.at < self.pending.len() {
            self.at += amount;
            if self.at >= self.pending.len() {
                // Replayed: give the memory back.
                self.pending = Vec::new();
                self.at = 0;
            }
        } else {
            self.input.consume(amount);
        }
    }
}

/// How reading one line ended.
enum Line {
    /// The line is in the buffer.
    Read,
    /// The line was longer than the bound and was skipped to its end, `bytes` long.
    TooLong {
        bytes: u64,
    },
    /// The line ran on past [`MAX_SKIP_BYTES`] without a break; the input is given up on.
    Endless,
    End,
}

/// Reads one line into `line` (with its `\n`, if it has one), keeping at most `limit` bytes
/// of it: a longer line is skipped to its end without being held.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, limit: usize) -> std::io::Result<Line> {
    line.clear();
    let read = Read::take(&mut *input, limit as u64 + 1).read_until(b'\n', line)?;
    if read == 0 {
        return Ok(Line::End);
    }
    if read <= limit || line.last() == Some(&b'\n') {
        return Ok(Line::Read);
    }
    // Past the bound: drop what was read and skip the rest of the line, reading no further
    // than MAX_SKIP_BYTES, since an input without line breaks would never end.
    line.clear();
    line.shrink_to(64 << 10);
    let skipped = Read::take(&mut *input, MAX_SKIP_BYTES).skip_until(b'\n')? as u64;
    if skipped == MAX_SKIP_BYTES {
        return Ok(Line::Endless);
    }
    Ok(Line::TooLong {
        bytes: read as u64 + skipped,
    })
}

fn too_large(what: &str, bytes: u64) -> String {
    format!(
        "{what} is larger than the {} MiB a record may have ({bytes} bytes); it was skipped",
        MAX_RECORD_BYTES >> 20
    )
}

/// NDJSON, or one object that spans lines (see [`read_records`]).
fn read_lines<R: BufRead>(
    name: &str,
    mut input: Replay<R>,
    emit: &mut dyn FnMut(RawRecord) -> bool,
) {
    let mut line = Vec::new();
    let mut number = 0usize;
    let mut first = true;
    loop {
        let read = read_line(&mut input, &mut line, MAX_RECORD_BYTES);
        number += 1;
        let position = || format!("{name}:{number}");
        let text = match read {
            Ok(Line::End) => return,
            Ok(Line::Read) => match std::str::from_utf8(&line) {
                Ok(text) => Ok(text.trim()),
                Err(error) => Err(format!(
                    "line {number} is not UTF-8: byte {} of the line is invalid",
                    error.valid_up_to() + 1
                )),
            },
            Ok(Line::TooLong { bytes }) => Err(too_large(&format!("line {number}"), bytes)),
            Ok(Line::Endless) => {
                emit(RawRecord {
                    position: position(),
                    text: Err(format!(
                        "line {number} runs on for more than {} MiB without a line break; \
                         the rest of this input was not read",
                        MAX_SKIP_BYTES >> 20
                    )),
                    foreign: false,
                });
                return;
            }
            Err(error) => {
                emit(RawRecord {
                    position: position(),
                    text: Err(format!(
                        "could not read line {number}: {error}; the rest of this input was not read"
                    )),
                    foreign: false,
                });
                return;
            }
        };
        let text = match text {
            Ok("") => continue,
            Ok(text) if first && serde_json::from_str::<IgnoredAny>(text).is_err() => {
                // Not a whole value: the start of a single pretty-printed object, or a
                // broken first line of NDJSON. Only reading on can tell.
                let mut record = text.as_bytes().to_vec();
                match single_object(&mut input, &mut record) {
                    Ok(true) => {
                        let text = String::from_utf8(record).map_err(|error| {
                            format!(
                                "{name} is not UTF-8: byte {} is invalid",
                                error.utf8_error().valid_up_to() + 1
                            )
                        });
                        emit(RawRecord {
                            position: name.to_string(),
                            text,
                            foreign: false,
                        });
                        return;
                    }
                    // NDJSON after all: the first line fails alone, what was read ahead is
                    // read again as lines.
                    Ok(false) => {
                        input.put_back(record.split_off(text.len()));
                        Ok(text.to_string())
                    }
                    Err(error) => {
                        emit(RawRecord {
                            position: position(),
                            text: Err(format!(
                                "could not read {name}: {error}; the rest of this input was not read"
                            )),
                            foreign: false,
                        });
                        return;
                    }
                }
            }
            Ok(text) => Ok(text.to_string()),
            Err(message) => Err(message),
        };
        first = false;
        if !emit(RawRecord {
            position: position(),
            text,
            foreign: false,
        }) {
            return;
        }
    }
}

/// Reads the rest of the input onto `record` (a first line that is not a whole value) while
/// it fits the record bound; `true` when the whole input is then one JSON value. On `false`
/// every byte read is still in `record`, for the caller to read again.
fn single_object(input: &mut impl BufRead, record: &mut Vec<u8>) -> std::io::Result<bool> {
    let start = record.len();
    record.push(b'\n');
    let limit = (MAX_RECORD_BYTES + 1).saturating_sub(record.len()) as u64;
    Read::take(&mut *input, limit).read_to_end(record)?;
    if record.len() > MAX_RECORD_BYTES {
        // Larger than any record may be, so not one record: lines, then.
        record.remove(start);
        return Ok(false);
    }
    let whole = serde_json::from_slice::<IgnoredAny>(record).is_ok();
    if !whole {
        record.remove(start);
    }
    Ok(whole)
}

/// A reader that fails once the current record has taken more than [`MAX_RECORD_BYTES`], so
/// an array element is never held past the bound; `used` is reset between elements.
struct Capped<'a, R> {
    input: R,
    used: &'a Cell<usize>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = (MAX_RECORD_BYTES + 1).saturating_sub(self.used.get());
        if room == 0 {
            return Err(std::io::Error::other("record too large"));
        }
        let take = buf.len().min(room);
        let n = self.input.read(&mut buf[..take])?;
        self.used.set(self.used.get() + n);
        Ok(n)
    }
}

/// A JSON array, one element at a time. An element that breaks the array's syntax, or
/// outgrows the record bound, ends that input: nothing after it can be told apart reliably.
fn read_array(name: &str, input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    let prefix = name.to_string();
    stream_elements(
        input,
        (prefix, "element", false),
        emit,
        |deserializer, elements| deserializer.deserialize_seq(elements),
    );
}

/// The elements of one streamed JSON array, each emitted as a record at `prefix[index]` as
/// it is read, never the whole array held.
struct Elements<'a> {
    prefix: String,
    foreign: bool,
    emit: &'a mut dyn FnMut(RawRecord) -> bool,
    index: Cell<usize>,
    /// Bytes the current element has taken, shared with [`Capped`].
    used: &'a Cell<usize>,
    /// The consumer went away: stop reading, report nothing more.
    stopped: Cell<bool>,
}

impl<'de> Visitor<'de> for &mut Elements<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // An element that fails to parse ends the array: the error goes up and is reported
        // once, at the index of the element that broke.
        self.used.set(0);
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let index = self.index.get();
            self.index.set(index + 1);
            if !(self.emit)(RawRecord {
                position: format!("{}[{index}]", self.prefix),
                text: Ok(raw.get().to_string()),
                foreign: self.foreign,
            }) {
                self.stopped.set(true);
                return Err(serde::de::Error::custom("stopped"));
            }
            self.used.set(0);
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut Elements<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// Parses `input` with `top` (which hands the array to the elements), each element bounded
/// by [`MAX_RECORD_BYTES`] and emitted at `prefix[index]`; what breaks the input is reported
/// once, at the element it broke in. `what` is the prefix, what an element is called in
/// messages, and whether elements are foreign records.
fn stream_elements<R: BufRead>(
    input: R,
    (prefix, label, foreign): (String, &'static str, bool),
    emit: &mut dyn FnMut(RawRecord) -> bool,
    top: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::IoRead<Capped<'_, R>>>,
        &mut Elements<'_>,
    ) -> serde_json::Result<()>,
) {
    let used = Cell::new(0);
    let mut elements = Elements {
        prefix,
        foreign,
        emit,
        index: Cell::new(0),
        used: &used,
        stopped: Cell::new(false),
    };
    let capped = Capped { input, used: &used };
    let mut deserializer = serde_json::Deserializer::from_reader(capped);
    let result = top(&mut deserializer, &mut elements).and_then(|()| {
        used.set(0);
        deserializer.end()
    });
    let Err(error) = result else { return };
    if elements.stopped.get() {
        return;
    }
    let at = elements.index.get();
    let message = if used.get() > MAX_RECORD_BYTES {
        format!(
            "{label} {at} is larger than the {} MiB a record may have; the rest of this input \
             was not read",
            MAX_RECORD_BYTES >> 20
        )
    } else {
        format!("json: {error}; the rest of this input was not read")
    };
    (elements.emit)(RawRecord {
        position: format!("{}[{at}]", elements.prefix),
        text: Err(message),
        foreign,
    });
}

/// How far past `{` a Firebase export's `"users": [` may start (whitespace, pretty-printing).
const FIREBASE_LOOKAHEAD: usize = 4096;

/// Whether the input (at its `{`) is a Firebase `auth:export` file: an object whose first key
/// is `"users"` holding an array. Everything looked at is put back.
fn starts_firebase_export<R: BufRead>(input: &mut Replay<R>) -> bool {
    const EXPECTED: &[u8] = b"{\"users\":[";
    let mut seen = Vec::new();
    let mut matched = 0;
    let found = loop {
        let Ok(buffer) = input.fill_buf() else {
            break false;
        };
        let Some(&byte) = buffer.first() else {
            break false;
        };
        input.consume(1);
        seen.push(byte);
        if byte.is_ascii_whitespace() && !(2..=7).contains(&matched) {
            // Whitespace between tokens, never inside the key (`users` is EXPECTED[2..7]).
        } else if byte == EXPECTED[matched] {
            matched += 1;
            if matched == EXPECTED.len() {
                break true;
            }
        } else {
            break false;
        }
        if seen.len() > FIREBASE_LOOKAHEAD {
            break false;
        }
    };
    input.put_back(seen);
    found
}

/// A Firebase export, `{"users": [...]}`: every user of the array streamed as a foreign record
/// (`users.json:users[3]`), never the whole file held; other keys are skipped.
fn read_firebase(name: &str, input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    use serde::de::MapAccess;
    struct Export<'e, 'a>(&'e mut Elements<'a>);
    impl<'de> Visitor<'de> for Export<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a Firebase export, {\"users\": [...]}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "users" {
                    map.next_value_seed(&mut *self.0)?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
                self.0.used.set(0);
            }
            Ok(())
        }
    }
    let prefix = format!("{name}:users");
    stream_elements(
        input,
        (prefix, "user", true),
        emit,
        |deserializer, elements| deserializer.deserialize_map(Export(elements)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Vec<(String, Result<String, String>)> {
        let mut records = Vec::new();
        read_records("in", text, &mut |r| {
            records.push((r.position, r.text));
            true
        });
        records
    }

    #[test]
    fn ndjson_lines_are_records_and_a_bad_line_does_not_stop_the_rest() {
        let records = read(b"{\"a\":1}\n\n{\"a\":\n{\"a\":3}\n");
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(positions, ["in:1", "in:3", "in:4"]);
        assert_eq!(records[1].1.as_deref(), Ok("{\"a\":"));
        assert_eq!(records[2].1.as_deref(), Ok("{\"a\":3}"));
    }

    #[test]
    fn a_line_that_is_not_utf8_fails_alone() {
        let records = read(b"{\"a\":1}\n{\"a\":\"\xff\"}\n{\"a\":3}");
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(positions, ["in:1", "in:2", "in:3"]);
        assert!(
            records[1]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("not UTF-8"))
        );
        assert_eq!(records[2].1.as_deref(), Ok("{\"a\":3}"));
    }

    #[test]
    fn a_broken_first_line_fails_alone() {
        let records = read(b"{\"a\": {\"b\":1\n{\"a\":2}\n{\"a\":3}\n");
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(positions, ["in:1", "in:2", "in:3"]);
        assert_eq!(records[0].1.as_deref(), Ok("{\"a\": {\"b\":1"));
        assert_eq!(records[2].1.as_deref(), Ok("{\"a\":3}"));
    }

    #[test]
    fn an_oversized_line_is_skipped_and_its_neighbours_read() {
        let mut input = b"{\"a\":1}\n{\"a\":\"".to_vec();
        input.resize(input.len() + MAX_RECORD_BYTES + 10, b'x');
        input.extend_from_slice(b"\"}\n{\"a\":3}\n");
        let records = read(&input);
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(positions, ["in:1", "in:2", "in:3"]);
        assert!(
            records[1]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("larger than"))
        );
        assert_eq!(records[2].1.as_deref(), Ok("{\"a\":3}"));
    }

    #[test]
    fn a_line_without_end_ends_the_input() {
        let endless = std::io::BufReader::new(std::io::repeat(0));
        let mut records = Vec::new();
        read_records("zero", endless, &mut |r| {
            records.push(r);
            true
        });
        assert_eq!(records.len(), 1);
        assert!(
            records[0]
                .text
                .as_ref()
                .is_err_and(|e| e.contains("was not read"))
        );
    }

    #[test]
    fn arrays_stream_their_elements() {
        let records = read(b" [ {\"a\":1}, {\"b\":[1,2]} ]");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, "in[0]");
        assert_eq!(records[1].1.as_deref(), Ok("{\"b\":[1,2]}"));
    }

    #[test]
    fn a_broken_array_reports_where_it_broke() {
        let records = read(b"[{\"a\":1}, {\"a\": }, {\"a\":3}]");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "in[1]");
        assert!(records[1].1.is_err());
    }

    #[test]
    fn an_oversized_array_element_ends_the_array_without_being_held() {
        let mut input = b"[{\"a\":1}, {\"a\":\"".to_vec();
        input.resize(input.len() + MAX_RECORD_BYTES + 10, b'x');
        input.extend_from_slice(b"\"}, {\"a\":3}]");
        let records = read(&input);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].0, "in[1]");
        assert!(
            records[1]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("larger than"))
        );
    }

    #[test]
    fn a_pretty_single_object_is_one_record() {
        let records = read(b"{\n  \"schema_id\": \"x\",\n  \"traits\": {}\n}\n");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, "in");
        let value: serde_json::Value =
            serde_json::from_str(records[0].1.as_ref().unwrap()).unwrap();
        assert_eq!(value["schema_id"], "x");
    }

    #[test]
    fn a_firebase_export_streams_its_users_as_foreign_records() {
        let mut records = Vec::new();
        read_records(
            "users.json",
            &b"{\n  \"users\" : [{\"localId\":\"a\"},\n{\"localId\":\"b\"}]}\n"[..],
            &mut |r| {
                records.push(r);
                true
            },
        );
        let positions: Vec<_> = records.iter().map(|r| r.position.as_str()).collect();
        assert_eq!(positions, ["users.json:users[0]", "users.json:users[1]"]);
        assert!(records.iter().all(|r| r.foreign));
        assert_eq!(records[1].text.as_deref(), Ok("{\"localId\":\"b\"}"));
        // A body whose first key is not `users` is still one record.
        let records = read(b"{\"schema_id\": \"x\", \"users\": []}");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, "in:1");
    }

    #[test]
    fn a_broken_firebase_export_reports_the_user_where_it_broke() {
        let mut records = Vec::new();
        read_records(
            "u.json",
            &b"{\"users\": [{\"a\":1}, {\"a\": ]}"[..],
            &mut |r| {
                records.push(r);
                true
            },
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].position, "u.json:users[1]");
        assert!(records[1].text.is_err());
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(read(b"  \n\n").is_empty());
        assert!(read(b"").is_empty());
    }
}
