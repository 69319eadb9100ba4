//! Outbox plans: files written into a Maildir folder on this machine.

use crate::model::Timestamp;
use crate::plugin_host::{OutboxFile, check_outbox_name};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Writes each file into `outbox/new/` the Maildir way: whole into `tmp/`, then linked into
/// `new/` (which fails rather than replace an existing file), so readers never see half a
/// message. Names are checked again here, and files are created fresh (`create_new` does not
/// follow a planted symlink).
pub fn write_outbox(
    outbox: &Path,
    message: Uuid,
    files: &[OutboxFile],
    now: Timestamp,
) -> std::io::Result<Vec<PathBuf>> {
    // Messages carry live codes and links: folders kith makes are owner-only (0700) and
    // files 0600, set at creation whatever the umask.
    let mut folders = fs::DirBuilder::new();
    folders.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folders, 0o700);
    for folder in ["tmp", "new", "cur"] {
        folders.create(outbox.join(folder))?;
    }
    // The handle's clock, not the machine's: a delivery is stamped with the time it is
    // recorded at, and tests and replays run on a clock of their own.
    let stamp = now.unix_millis();
    let mut written = Vec::new();
    for file in files {
        check_outbox_name(&file.name).map_err(|why| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("file name {:?} {why}", file.name),
            )
        })?;
        let name = format!("{stamp}.{message}.{}", file.name);
        let temporary = outbox.join("tmp").join(&name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut handle = options.open(&temporary)?;
        handle.write_all(&file.body)?;
        handle.sync_all()?;
        drop(handle);
        let target = outbox.join("new").join(&name);
        let linked = fs::hard_link(&temporary, &target);
        fs::remove_file(&temporary)?;
        linked?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2031-05-06T07:08:09Z").unwrap()
    }

    fn file(name: &str) -> OutboxFile {
        OutboxFile {
            name: name.into(),
            content_type: "message/rfc822".into(),
            body: b"hello".to_vec(),
        }
    }

    #[test]
    fn files_land_in_new_and_path_tricks_are_refused() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let invite = Uuid::from_u128(1);
        let written = write_outbox(dir.path(), invite, &[file("invite.eml")], now())?;
        assert_eq!(written.len(), 1);
        assert!(written[0].starts_with(dir.path().join("new")));
        assert_eq!(fs::read(&written[0])?, b"hello");
        assert_eq!(
            fs::read_dir(dir.path().join("tmp"))?.count(),
            0,
            "nothing is left in tmp/"
        );
        for bad in [
            "../x",
            "/etc/passwd",
            "a/b",
            "nul\0",
            "",
            ".hidden",
            "..\\x",
        ] {
            assert!(
                write_outbox(dir.path(), invite, &[file(bad)], now()).is_err(),
                "{bad:?}"
            );
        }
        assert!(!dir.path().join("x").exists());
        Ok(())
    }
}
