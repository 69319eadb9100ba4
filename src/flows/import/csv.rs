//! CSV inputs: a header row, then one foreign record per row, handed to a mapper as an
//! object of the row's cells (every value a string) by column name, in column order.
//!
//! Quoting is RFC 4180's (a quoted cell may hold commas, quotes doubled, line breaks), and a
//! record's position is the line its row starts on. A row that cannot be read (the wrong
//! number of cells, not UTF-8) is that row's error; a header that cannot be (duplicate
//! names) or a row outgrowing the record bound ends the input, said at its position.

use super::reader::{MAX_RECORD_BYTES, RawRecord};
use serde_json::{Map, Value};
use std::io::{BufRead, Read};

/// Reads every row of `input` after its header, calling `emit` for each in order.
///
/// Rows are cut out of the input by counting quotes: a row goes on past a line break while it
/// has an open quoted cell (an odd number of `"` so far; a doubled `""` counts twice). So each
/// row's line is exact, a row is never held past the record bound, and a row that cannot be
/// parsed fails alone.
pub fn read_csv(name: &str, mut input: impl BufRead, emit: &mut dyn FnMut(RawRecord) -> bool) {
    let mut header: Option<Vec<Option<String>>> = None;
    let mut next_line = 1usize;
    let mut row = Vec::new();
    loop {
        let line = next_line;
        let position = format!("{name}:{line}");
        let fail = |message: String| RawRecord {
            position: position.clone(),
            text: Err(message),
            foreign: true,
        };
        match read_row(&mut input, &mut row, &mut next_line) {
            Ok(true) => {}
            Ok(false) => return,
            Err(message) => {
                emit(fail(format!(
                    "{message}; the rest of this input was not read"
                )));
                return;
            }
        }
        // A blank line is no row (spreadsheets end files with them).
        if row.iter().all(|b| *b == b'\r' || *b == b'\n') {
            continue;
        }
        let cells = match parse_row(&row) {
            Ok(cells) => cells,
            Err(message) => {
                if !emit(fail(message)) {
                    return;
                }
                continue;
            }
        };
        let Some(names) = &header else {
            match header_names(&cells) {
                Ok(names) => header = Some(names),
                Err(message) => {
                    emit(fail(format!(
                        "{message}; the rest of this input was not read"
                    )));
                    return;
                }
            }
            continue;
        };
        let text = record_object(names, &cells).map(|object| Value::Object(object).to_string());
        if !emit(RawRecord {
            position,
            text,
            foreign: true,
        }) {
            return;
        }
    }
}

/// Reads the physical lines of one row into `row`, counting them onto `next_line`; `false`
/// at the end of the input.
fn read_row(
    input: &mut impl BufRead,
    row: &mut Vec<u8>,
    next_line: &mut usize,
) -> Result<bool, String> {
    row.clear();
    let mut quotes = 0usize;
    loop {
        let start = row.len();
        let room = (MAX_RECORD_BYTES + 1).saturating_sub(start) as u64;
        let read = Read::take(&mut *input, room)
            .read_until(b'\n', row)
            .map_err(|e| format!("could not read line {next_line}: {e}"))?;
        if read == 0 {
            return Ok(!row.is_empty());
        }
        if row.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "the row is larger than the {} MiB a record may have",
                MAX_RECORD_BYTES >> 20
            ));
        }
        if row.last() == Some(&b'\n') {
            *next_line += 1;
        }
        quotes += row[start..].iter().filter(|b| **b == b'"').count();
        if quotes.is_multiple_of(2) || row.last() != Some(&b'\n') {
            return Ok(true);
        }
    }
}

/// One row's cells, parsed with RFC 4180's quoting.
fn parse_row(row: &[u8]) -> Result<csv::ByteRecord, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(row.len().clamp(64, 64 << 10))
        .from_reader(row);
    let mut cells = csv::ByteRecord::new();
    match reader.read_byte_record(&mut cells) {
        Ok(_) => Ok(cells),
        Err(error) => Err(format!("could not read the row: {error}")),
    }
}

/// The column names of the header row: each once, with a byte-order mark taken off the first.
/// A column with an empty name is `None`: its cells are dropped (a trailing comma makes one).
fn header_names(row: &csv::ByteRecord) -> Result<Vec<Option<String>>, String> {
    let mut names: Vec<Option<String>> = Vec::with_capacity(row.len());
    for (index, cell) in row.iter().enumerate() {
        let cell = if index == 0 {
            cell.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(cell)
        } else {
            cell
        };
        let name = std::str::from_utf8(cell)
            .map_err(|_| format!("column {} of the header row is not UTF-8", index + 1))?
            .trim();
        if name.is_empty() {
            names.push(None);
            continue;
        }
        if let Some(first) = names.iter().position(|n| n.as_deref() == Some(name)) {
            return Err(format!(
                "the header row names column {} \"{name}\" again (column {} has that name): \
                 a row's cells could not be told apart",
                index + 1,
                first + 1
            ));
        }
        names.push(Some(name.to_string()));
    }
    Ok(names)
}

/// One row as an object of its cells by column name.
fn record_object(
    header: &[Option<String>],
    row: &csv::ByteRecord,
) -> Result<Map<String, Value>, String> {
    if row.len() != header.len() {
        return Err(format!(
            "the row has {} cells and the header row {}: a cell is missing or one too many \
             (a comma inside a cell needs the cell in double quotes)",
            row.len(),
            header.len()
        ));
    }
    let mut object = Map::with_capacity(row.len());
    for (index, (name, cell)) in header.iter().zip(row.iter()).enumerate() {
        let Some(name) = name else { continue };
        let cell = std::str::from_utf8(cell).map_err(|error| {
            format!(
                "cell {} (\"{name}\") is not UTF-8: byte {} of the cell is invalid",
                index + 1,
                error.valid_up_to() + 1
            )
        })?;
        object.insert(name.clone(), Value::String(cell.to_string()));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Vec<(String, Result<Value, String>)> {
        let mut records = Vec::new();
        read_csv("users.csv", text, &mut |r| {
            let text = r.text.map(|t| serde_json::from_str(&t).unwrap());
            records.push((r.position, text));
            true
        });
        records
    }

    #[test]
    fn rows_become_objects_of_strings_by_column_with_quoted_cells_kept_whole() {
        let records = read(
            b"\xEF\xBB\xBFEmail,Name,Verified\r\nada@example.org,\"Lovelace, Ada\",yes\r\n\
              bob@example.org,\"Bob \"\"the\"\"\nBuilder\",\r\n",
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, "users.csv:2");
        assert_eq!(
            records[0].1,
            Ok(
                serde_json::json!({"Email": "ada@example.org", "Name": "Lovelace, Ada", "Verified": "yes"})
            )
        );
        assert_eq!(records[1].0, "users.csv:3");
        assert_eq!(
            records[1].1.as_ref().unwrap()["Name"],
            "Bob \"the\"\nBuilder"
        );
        assert_eq!(records[1].1.as_ref().unwrap()["Verified"], "");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_cells_fails_alone() {
        let records = read(b"a,b\n1,2\n1,2,3\n\n4,5\n");
        let positions: Vec<_> = records.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(positions, ["users.csv:2", "users.csv:3", "users.csv:5"]);
        assert!(records[1].1.as_ref().is_err_and(|e| e.contains("3 cells")));
        assert_eq!(records[2].1, Ok(serde_json::json!({"a": "4", "b": "5"})));
    }

    #[test]
    fn a_cell_that_is_not_utf8_fails_its_row_alone() {
        let records = read(b"a,b\n1,\xff\n3,4\n");
        assert!(
            records[0]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("\"b\") is not UTF-8"))
        );
        assert_eq!(records[1].1, Ok(serde_json::json!({"a": "3", "b": "4"})));
    }

    #[test]
    fn a_header_naming_a_column_twice_ends_the_input() {
        let records = read(b"email,name,email\n1,2,3\n");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].0, "users.csv:1");
        assert!(records[0].1.as_ref().is_err_and(|e| e.contains("again")));
    }

    #[test]
    fn an_endless_quoted_cell_ends_the_input_without_being_held() {
        let mut input = b"a\n\"".to_vec();
        // An open quote runs on over line breaks: the row grows past the bound.
        input.extend_from_slice(b"x\n");
        input.resize(input.len() + MAX_RECORD_BYTES + (1 << 20), b'x');
        let records = read(&input);
        assert_eq!(records.len(), 1);
        assert!(
            records[0]
                .1
                .as_ref()
                .is_err_and(|e| e.contains("larger than"))
        );
    }
}
