//! Reading a plugin folder: its `plugin.toml` and the component the manifest names, confined
//! to the folder.
//!
//! A manifest comes from whoever wrote the plugin, so the paths in it are not trusted: the
//! component must resolve (symlinks followed) to a regular file inside the folder, and no file
//! is read past its size limit, so `wasm = "/dev/zero"` cannot exhaust memory and a FIFO
//! cannot hang the install. The folder itself, and a component passed explicitly with
//! `--wasm FILE`, are the user's own choice and are not confined (but are still read as
//! regular files under the limit). What the bytes are is checked later, by `inspect`.

use super::PluginError;
use super::limits::MAX_WASM_BYTES;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest `plugin.toml` read; real manifests are a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Reads `dir/plugin.toml` (which must itself stay inside `dir`).
///
/// # Errors
/// [`PluginError::Unreadable`], [`PluginError::OutsideFolder`], [`PluginError::NotAFile`] or
/// [`PluginError::FileTooLarge`].
pub fn read_manifest(dir: &Path) -> Result<String, PluginError> {
    let path = resolve_inside(dir, "plugin.toml")?;
    let bytes = read_regular(&path, MAX_MANIFEST_BYTES)?;
    String::from_utf8(bytes).map_err(|_| PluginError::Unreadable {
        path: path.display().to_string(),
        problem: "it is not UTF-8 text".into(),
    })
}

/// Reads the component: `explicit` when the user named one, else the manifest's `wasm`
/// path, resolved inside `dir`.
///
/// # Errors
/// As [`read_manifest`]; a component over [`MAX_WASM_BYTES`] is
/// [`PluginError::FileTooLarge`].
pub fn read_component(
    dir: &Path,
    manifest_wasm: &str,
    explicit: Option<&Path>,
) -> Result<Vec<u8>, PluginError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => resolve_inside(dir, manifest_wasm)?,
    };
    read_regular(&path, MAX_WASM_BYTES as u64)
}

/// `dir/relative` with every symlink resolved, refused unless it is still inside `dir`.
fn resolve_inside(dir: &Path, relative: &str) -> Result<PathBuf, PluginError> {
    let unreadable = |path: &Path, e: std::io::Error| PluginError::Unreadable {
        path: path.display().to_string(),
        problem: e.to_string(),
    };
    let folder = dir.canonicalize().map_err(|e| unreadable(dir, e))?;
    // `join` of an absolute path replaces the folder; the containment check below refuses it.
    let joined = folder.join(relative);
    let resolved = joined.canonicalize().map_err(|e| unreadable(&joined, e))?;
    if resolved == folder || !resolved.starts_with(&folder) {
        return Err(PluginError::OutsideFolder {
            path: relative.to_string(),
            resolved: resolved.display().to_string(),
            folder: folder.display().to_string(),
        });
    }
    Ok(resolved)
}

/// Reads `path` if it is a regular file of at most `limit` bytes.
fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, PluginError> {
    let shown = || path.display().to_string();
    let unreadable = |e: std::io::Error| PluginError::Unreadable {
        path: shown(),
        problem: e.to_string(),
    };
    // Type and size before opening: opening a FIFO for reading waits for a writer, and a
    // device such as /dev/zero never ends. (std cannot open with O_NONBLOCK; a file swapped
    // between this check and the open is caught by the second check on the handle, except
    // for a FIFO, which only someone who can already rewrite the folder could plant.)
    check_regular(path, &std::fs::metadata(path).map_err(unreadable)?, limit)?;
    let file = File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    check_regular(path, &metadata, limit)?;
    // The file may grow after the check: read one byte past the limit at most.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(PluginError::FileTooLarge {
            path: shown(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

fn check_regular(path: &Path, metadata: &Metadata, limit: u64) -> Result<(), PluginError> {
    if !metadata.is_file() {
        return Err(PluginError::NotAFile {
            path: path.display().to_string(),
            kind: file_kind(metadata),
        });
    }
    if metadata.len() > limit {
        return Err(PluginError::FileTooLarge {
            path: path.display().to_string(),
            size: metadata.len(),
            limit,
        });
    }
    Ok(())
}

fn file_kind(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        return "folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "device";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    "special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_must_be_a_regular_file_inside_the_folder() -> Result<(), std::io::Error> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("plugin");
        std::fs::create_dir(&dir)?;
        std::fs::write(dir.join("ok.wasm"), b"bytes")?;
        std::fs::create_dir(dir.join("sub"))?;
        std::fs::write(dir.join("sub/nested.wasm"), b"nested")?;
        std::fs::write(root.path().join("outside.wasm"), b"secret")?;
        assert_eq!(
            read_component(&dir, "ok.wasm", None).ok(),
            Some(b"bytes".to_vec())
        );
        assert_eq!(
            read_component(&dir, "./sub/../sub/nested.wasm", None).ok(),
            Some(b"nested".to_vec())
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("ok.wasm", dir.join("inside-link.wasm"))?;
            std::os::unix::fs::symlink(root.path().join("outside.wasm"), dir.join("out.wasm"))?;
            assert!(read_component(&dir, "inside-link.wasm", None).is_ok());
            assert!(matches!(
                read_component(&dir, "out.wasm", None),
                Err(PluginError::OutsideFolder { .. })
            ));
            assert!(matches!(
                read_component(&dir, "/dev/zero", None),
                Err(PluginError::OutsideFolder { .. })
            ));
            std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm"))?;
            assert!(read_component(&dir, "zero.wasm", None).is_err());
            assert!(matches!(
                read_component(&dir, "", Some(Path::new("/dev/zero"))),
                Err(PluginError::NotAFile { kind: "device", .. })
            ));
        }
        for outside in ["../outside.wasm", ".", "sub"] {
            assert!(
                read_component(&dir, outside, None).is_err(),
                "{outside} was read"
            );
        }
        // An explicit --wasm is the user's choice: it may live anywhere.
        assert_eq!(
            read_component(&dir, "", Some(&root.path().join("outside.wasm"))).ok(),
            Some(b"secret".to_vec())
        );
        Ok(())
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_read() -> Result<(), std::io::Error> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("big");
        File::create(&path)?.set_len(MAX_WASM_BYTES as u64 + 1)?;
        assert!(matches!(
            read_component(dir.path(), "big", None),
            Err(PluginError::FileTooLarge { .. })
        ));
        Ok(())
    }
}
