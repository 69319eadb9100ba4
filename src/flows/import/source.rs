//! The inputs of an import: what container each holds, and gzip taken off on the way in.
//!
//! The container is told by the file name (`.csv`, `.ldif`, anything else JSON), after a
//! `.gz` is taken off; compression is told by the bytes (gzip's magic number), so a renamed
//! or piped `.gz` reads the same. JSON covers one object, an array, NDJSON and Firebase's
//! `{"users": [...]}`, which the reader tells apart by content.

use flate2::bufread::MultiGzDecoder;
use std::io::{BufRead, BufReader, Read};

/// How an input's records are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// One object, a JSON array, NDJSON, or a Firebase export's `{"users": [...]}`.
    #[default]
    Json,
    /// A header row, then one record per row: an object of the row's cells by column name.
    Csv,
    /// LDIF content records (RFC 2849): an object of the entry's attributes, each a list.
    Ldif,
}

impl SourceFormat {
    /// The container a file name says: `users.csv`, `users.csv.gz`, `dump.ldif`; JSON otherwise.
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
        if lower.ends_with(".csv") {
            SourceFormat::Csv
        } else if lower.ends_with(".ldif") || lower.ends_with(".ldf") {
            SourceFormat::Ldif
        } else {
            SourceFormat::Json
        }
    }

    /// Whether its records are foreign (not createIdentityBody), so a mapper must turn them
    /// into bodies.
    #[must_use]
    pub fn is_foreign(self) -> bool {
        self != SourceFormat::Json
    }
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceFormat::Json => "JSON",
            SourceFormat::Csv => "CSV",
            SourceFormat::Ldif => "LDIF",
        })
    }
}

/// One input of an import: a name for positions (`users.ndjson`, `<stdin>`), its bytes
/// (uncompressed), and its container.
pub struct ImportSource {
    pub name: String,
    pub reader: Box<dyn BufRead + Send>,
    pub format: SourceFormat,
}

/// gzip's magic number (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl ImportSource {
    /// An input named `name`: its container told by the name, gzip taken off when the bytes
    /// start with gzip's magic number.
    ///
    /// # Errors
    /// Reading the first bytes failed.
    pub fn new(
        name: impl Into<String>,
        reader: impl Read + Send + 'static,
    ) -> std::io::Result<Self> {
        let name = name.into();
        let format = SourceFormat::from_name(&name);
        Ok(Self {
            reader: decompressed(reader)?,
            format,
            name,
        })
    }

    /// The same input read as `format`, whatever its name says (stdin has no name to tell).
    #[must_use]
    pub fn with_format(mut self, format: SourceFormat) -> Self {
        self.format = format;
        self
    }
}

/// `reader` buffered, and inflated when it is gzip (several members, as `cat a.gz b.gz` makes,
/// read as one stream). The first two bytes are read whole before deciding: a pipe may hand
/// them over one at a time.
fn decompressed(reader: impl Read + Send + 'static) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut reader = BufReader::with_capacity(256 << 10, reader);
    let mut head = Vec::with_capacity(GZIP_MAGIC.len());
    while head.len() < GZIP_MAGIC.len() {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            break;
        }
        let take = (GZIP_MAGIC.len() - head.len()).min(buffer.len());
        head.extend_from_slice(&buffer[..take]);
        reader.consume(take);
    }
    let rest = std::io::Cursor::new(head.clone()).chain(reader);
    if head == GZIP_MAGIC {
        let inflated = MultiGzDecoder::new(BufReader::new(rest));
        Ok(Box::new(BufReader::with_capacity(256 << 10, inflated)))
    } else {
        Ok(Box::new(BufReader::new(rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn read_all(source: ImportSource) -> String {
        let mut text = String::new();
        let mut reader = source.reader;
        reader.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn the_container_is_told_by_the_name_without_its_gz() {
        assert_eq!(SourceFormat::from_name("users.csv"), SourceFormat::Csv);
        assert_eq!(SourceFormat::from_name("USERS.CSV.GZ"), SourceFormat::Csv);
        assert_eq!(SourceFormat::from_name("dump.ldif"), SourceFormat::Ldif);
        assert_eq!(
            SourceFormat::from_name("users_nd.json.gz"),
            SourceFormat::Json
        );
        assert_eq!(SourceFormat::from_name("<stdin>"), SourceFormat::Json);
    }

    #[test]
    fn gzip_is_told_by_its_bytes_and_members_are_read_as_one_stream() {
        let mut gz = Vec::new();
        for part in ["{\"a\":1}\n", "{\"a\":2}\n"] {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(part.as_bytes()).unwrap();
            gz.extend(encoder.finish().unwrap());
        }
        let source = ImportSource::new("renamed.json", std::io::Cursor::new(gz)).unwrap();
        assert_eq!(read_all(source), "{\"a\":1}\n{\"a\":2}\n");
        let plain = ImportSource::new("x.json", std::io::Cursor::new(b"{}".to_vec())).unwrap();
        assert_eq!(read_all(plain), "{}");
        let one = ImportSource::new("x.json", std::io::Cursor::new(vec![0x1f])).unwrap();
        assert_eq!(read_all(one).as_bytes(), [0x1f]);
    }
}
