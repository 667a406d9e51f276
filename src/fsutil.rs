//! File writes that cannot lose data: atomic replacement through symlinks, private
//! permissions, advisory locks against concurrent writers, bounded reads, and removal of
//! plaintext temp files on signals and after crashes.
//!
//! Owns: writing through a temp file next to the *resolved* target, fsync, rename, directory
//! fsync; keeping an existing file's mode; creating secrets files as 0600; the per-target lock
//! file; the registry of paths to remove when the process is killed; reading input with a size
//! bound. Must not know: what is being written.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The permissions of a file written by [`write_atomic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Keep an existing file's mode; use this one for a new file (ciphertext).
    KeepOr(u32),
    /// Always this mode (plaintext secrets: 0600).
    Exactly(u32),
}

/// The largest input shroud reads into memory (encrypting or decrypting a file holds a few
/// copies of it). Override with `SHROUD_MAX_INPUT` (bytes).
pub(crate) const DEFAULT_MAX_INPUT: u64 = 256 * 1024 * 1024;

/// The input size limit in force.
pub fn max_input() -> u64 {
    std::env::var("SHROUD_MAX_INPUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_INPUT)
}

/// Error kind of a read refused by the size limit.
pub(crate) fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than {} MiB, the input limit (set SHROUD_MAX_INPUT to raise it)",
            limit / (1024 * 1024)
        ),
    )
}

/// Reads all of `r`, refusing more than `limit` bytes. Allocation failures are errors, not
/// aborts.
pub fn read_bounded(mut r: impl Read, size_hint: Option<u64>, limit: u64) -> io::Result<Vec<u8>> {
    if size_hint.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut buf = Vec::new();
    if let Some(n) = size_hint {
        buf.try_reserve_exact(n as usize)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "not enough memory"))?;
    }
    let got = r.by_ref().take(limit + 1).read_to_end(&mut buf)?;
    if got as u64 > limit {
        crate::secret::wipe(&mut buf);
        return Err(too_large(limit));
    }
    Ok(buf)
}

/// Reads a regular file with the input size limit.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let meta = f.metadata()?;
    read_bounded(f, meta.is_file().then_some(meta.len()), max_input())
}

/// The file a write to `path` must replace: symlinks are followed (as sops writes through a
/// link), and anything but a regular file is refused so that `-i` never turns a device, FIFO
/// or directory into a regular file. A path that does not exist yet is returned as it is.
pub(crate) fn resolve_target(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(real) => check_regular(&real).map(|()| real),
            // A dangling link: create the file it points to.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let target = fs::read_link(path)?;
                Ok(match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                })
            }
            Err(e) => Err(e),
        },
        Ok(_) => check_regular(path).map(|()| path.to_path_buf()),
    }
}

fn check_regular(path: &Path) -> io::Result<()> {
    let m = fs::metadata(path)?;
    if m.is_file() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file; refusing to replace it (write to a regular file or use --output)",
        ))
    }
}

/// Atomically replaces (or creates) the file `path` resolves to with `bytes`. A crash at any
/// point leaves either the old or the new content, never a mix and never nothing; the temp
/// file is removed if the process is killed by a signal.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let target = resolve_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mode = match (mode, fs::metadata(&target)) {
        (Mode::Exactly(m), _) => m,
        (Mode::KeepOr(_), Ok(m)) => m.permissions().mode() & 0o7777,
        (Mode::KeepOr(m), Err(e)) if e.kind() == io::ErrorKind::NotFound => m,
        (Mode::KeepOr(_), Err(e)) => return Err(e),
    };
    remove_stale_temps(&dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(&dir)?;
    let guard = on_signal_remove(tmp.path());
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    guard.disarm();
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

const TEMP_PREFIX: &str = ".shroud-";
const TEMP_SUFFIX: &str = ".tmp";

/// Whether process `pid` is alive.
fn alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => !matches!(
            rustix::process::test_kill_process(p),
            Err(rustix::io::Errno::SRCH)
        ),
        None => false,
    }
}

/// The pid a shroud temp name (`.shroud-PID-…` or `shroud-edit-PID-…`) carries.
fn pid_of(name: &str, prefix: &str) -> Option<i32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Removes `.shroud-PID-*.tmp` files in `dir` left by shroud processes that no longer run
/// (a crash or `kill -9` during a write; such a file may hold plaintext of `decrypt -i`).
pub(crate) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(TEMP_SUFFIX)
            && let Some(pid) = pid_of(&name, TEMP_PREFIX)
            && pid != std::process::id() as i32
            && !alive(pid)
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Removes private temp directories `PREFIX-PID-*` under `parent` whose process is gone.
pub fn remove_stale_dirs(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let me = rustix::process::getuid();
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(pid) = pid_of(&name, prefix)
            && pid != std::process::id() as i32
            && !alive(pid)
            && e.metadata()
                .is_ok_and(|m| m.is_dir() && m.uid() == me.as_raw())
        {
            scrub_tree(&e.path());
            let _ = fs::remove_dir_all(e.path());
        }
    }
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

/// Overwrites a plaintext file with zeros (best effort) before it is removed.
pub fn scrub(path: &Path) {
    if let Ok(meta) = fs::symlink_metadata(path)
        && meta.is_file()
        && let Ok(mut f) = OpenOptions::new().write(true).open(path)
    {
        let _ = f.write_all(&vec![0u8; meta.len() as usize]);
        let _ = f.sync_all();
    }
}

fn scrub_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            scrub(&e.path());
        }
    }
}

/// A directory for plaintext handed to other programs: RAM-backed when the system offers one
/// (`$XDG_RUNTIME_DIR`, then `/dev/shm`), else the temp directory.
pub fn private_parent() -> PathBuf {
    let me = rustix::process::getuid().as_raw();
    let usable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| {
            m.is_dir() && (m.uid() == me || m.mode() & 0o1000 != 0) && {
                let probe = p.join(format!(".shroud-probe-{}", std::process::id()));
                let ok = fs::create_dir(&probe).is_ok();
                let _ = fs::remove_dir(&probe);
                ok
            }
        })
    };
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && x.is_absolute()
        && usable(&x)
    {
        return x;
    }
    let shm = Path::new("/dev/shm");
    if usable(shm) {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Paths to remove if the process is killed by a signal (see [`cleanup_on_signal`]).
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes its path from the signal-cleanup registry when dropped or disarmed.
pub struct CleanupGuard {
    path: PathBuf,
}

impl CleanupGuard {
    /// The path no longer needs removing (it was renamed into place).
    pub(crate) fn disarm(self) {}
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        let mut reg = CLEANUP.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = reg.iter().rposition(|p| p == &self.path) {
            reg.swap_remove(i);
        }
    }
}

/// Registers `path` (a file or a directory) to be scrubbed and removed if a signal ends the
/// process before the guard is dropped.
pub fn on_signal_remove(path: &Path) -> CleanupGuard {
    CLEANUP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_path_buf());
    CleanupGuard {
        path: path.to_path_buf(),
    }
}

/// Scrubs and removes every registered path. Called by the binary's signal handler just
/// before the process exits.
pub fn cleanup_on_signal() {
    let paths = std::mem::take(&mut *CLEANUP.lock().unwrap_or_else(|e| e.into_inner()));
    for p in paths {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                scrub_tree(&p);
                let _ = fs::remove_dir_all(&p);
            }
            Ok(_) => {
                scrub(&p);
                let _ = fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
}

/// An exclusive advisory lock on a file that is about to be read, changed and rewritten, so
/// that two concurrent writers (two `shroud set`, an `edit` and a `rotate`) cannot lose each
/// other's update. The lock file `.NAME.shroud-lock` sits next to the resolved target and is
/// removed on release.
pub struct FileLock {
    path: PathBuf,
    file: File,
}

fn lock_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.shroud-lock"))
}

/// Takes the lock for `path`, waiting for another writer to finish; `waiting` is called once
/// if the lock is held by someone else (to tell the user why nothing happens).
pub fn lock(path: &Path, waiting: impl FnOnce()) -> io::Result<FileLock> {
    let mut waiting = Some(waiting);
    loop {
        match acquire(path, false)? {
            Some(l) => return Ok(l),
            None => {
                if let Some(w) = waiting.take() {
                    w();
                }
                match acquire(path, true)? {
                    Some(l) => return Ok(l),
                    None => continue,
                }
            }
        }
    }
}

/// Takes the lock for `path` if nobody holds it.
pub fn try_lock(path: &Path) -> io::Result<Option<FileLock>> {
    acquire(path, false)
}

/// One attempt: `block` waits for the lock; otherwise `None` when it is held. Also `None`
/// when the lock file was replaced while we waited (the caller retries).
fn acquire(path: &Path, block: bool) -> io::Result<Option<FileLock>> {
    let target = resolve_target(path)?;
    let lp = lock_path(&target);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lp)?;
    if block {
        file.lock()?;
    } else {
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    // The previous holder may have removed the lock file after we opened it: then our lock
    // is on an unlinked inode and excludes no one.
    let same = match (fs::metadata(&lp), file.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    };
    Ok(same.then_some(FileLock { path: lp, file }))
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Writes a new key file atomically (0600), appending `addition` to what `path` held: a
/// full disk leaves the old file intact instead of a cut-off line.
pub fn append_private(path: &Path, addition: &[u8]) -> io::Result<()> {
    let mut all = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    if !all.is_empty() && !all.ends_with(b"\n") {
        all.push(b'\n');
    }
    all.extend_from_slice(addition);
    let r = write_atomic(path, &all, Mode::Exactly(0o600));
    crate::secret::wipe(&mut all);
    r
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

    #[test]
    fn writes_through_symlinks_and_refuses_special_files() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real.yaml");
        fs::write(&real, "old").unwrap();
        let link = d.path().join("link.yaml");
        std::os::unix::fs::symlink("real.yaml", &link).unwrap();
        write_atomic(&link, b"new", Mode::KeepOr(0o644)).unwrap();
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let err = write_atomic(Path::new("/dev/null"), b"x", Mode::KeepOr(0o644)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn stale_temps_of_dead_processes_are_removed() {
        let d = tempfile::tempdir().unwrap();
        // pid 2^22+7 is above Linux's pid_max default range and does not run.
        let dead = d.path().join(".shroud-4194311-abc.tmp");
        let live = d
            .path()
            .join(format!(".shroud-{}-abc.tmp", std::process::id()));
        fs::write(&dead, "plaintext").unwrap();
        fs::write(&live, "in progress").unwrap();
        remove_stale_temps(d.path());
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[test]
    fn bounded_reads_refuse_oversized_input() {
        let data = [7u8; 100];
        assert_eq!(read_bounded(&data[..], None, 100).unwrap().len(), 100);
        let e = read_bounded(&data[..], None, 99).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(read_bounded(&data[..], Some(1 << 40), 1 << 30).is_err());
    }

    #[test]
    fn lock_excludes_a_second_writer() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        fs::write(&p, "x").unwrap();
        let held = lock(&p, || {}).unwrap();
        assert!(try_lock(&p).unwrap().is_none());
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            let _l = lock(&p2, || {}).unwrap();
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(200))
                .is_err()
        );
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        t.join().unwrap();
        assert!(!lock_path(&p).exists());
    }
}
