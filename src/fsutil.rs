//! File writes that cannot lose data: atomic replacement and private permissions.
//!
//! Owns: writing through a temp file in the target's directory, fsync, rename, directory fsync;
//! keeping an existing file's mode; creating secrets files as 0600.
//! Must not know: what is being written.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The permissions of a file written by [`write_atomic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Keep an existing file's mode; use this one for a new file (ciphertext).
    KeepOr(u32),
    /// Always this mode (plaintext secrets: 0600).
    Exactly(u32),
}

/// Atomically replaces (or creates) `path` with `bytes`. A crash at any point leaves either the
/// old or the new content, never a mix and never nothing.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mode = match (mode, fs::metadata(path)) {
        (Mode::Exactly(m), _) => m,
        (Mode::KeepOr(_), Ok(m)) => m.permissions().mode() & 0o7777,
        (Mode::KeepOr(m), Err(e)) if e.kind() == io::ErrorKind::NotFound => m,
        (Mode::KeepOr(_), Err(e)) => return Err(e),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".shroud-")
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a new private file (0600), refusing to replace an existing one.
pub fn create_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Appends to a private file, creating it 0600 if missing.
pub fn append_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        write_atomic(&p, b"one", Mode::KeepOr(0o600)).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"two", Mode::KeepOr(0o600)).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        write_atomic(&p, b"plain", Mode::Exactly(0o600)).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(create_private(&p, b"x").is_err());
    }
}
