//! File writes that cannot lose data: atomic replacement through symlinks, private
//! permissions, advisory locks against concurrent writers, bounded reads, and removal of
//! plaintext temp files on signals and after crashes.
//!
//! Owns: writing through a temp file next to the *resolved* target, fsync, rename, directory
//! fsync; keeping an existing file's mode, owner and group (or refusing the write when they
//! cannot be kept); refusing to replace a file that has other names (hard links) unless the
//! command was told to; creating secrets files as 0600 and private directories as 0700; the
//! per-target lock file (never followed through a symlink, removed on signals, a stale one
//! explained); the registry of paths to remove when the process is killed; reading input with
//! a size bound. Must not know: what is being written.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// The permissions of a file written by [`write_atomic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Keep an existing file's mode; use this one for a new file (ciphertext).
    KeepOr(u32),
    /// Always this mode (plaintext secrets: 0600).
    Exactly(u32),
    /// Always this mode, and the file is the writer's own: an existing file (or a symlink's
    /// target) that belongs to another user is refused, never given that owner, and a symlink
    /// another user planted in a sticky world-writable directory is not followed (the kernel's
    /// `fs.protected_symlinks` rule). For plaintext written where the user asked
    /// (`decrypt --output`).
    Own(u32),
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

/// The most a secret file (an identity or key file, a key-backup share or bundle) may hold:
/// such files are a few kilobytes, and a larger one is a mistake or an attack.
pub const MAX_SECRET_FILE: u64 = 16 * 1024 * 1024;

/// Reads a secret file (identities, key-backup shares and bundles) with a size cap of `limit`
/// bytes, into a buffer the caller zeroizes.
pub fn read_secret_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let meta = f.metadata()?;
    read_bounded(f, meta.is_file().then_some(meta.len()), limit).map_err(|e| {
        if e.kind() == io::ErrorKind::FileTooLarge {
            io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "larger than {} KiB, more than any key, share or backup file holds; nothing was read",
                    limit / 1024
                ),
            )
        } else {
            e
        }
    })
}

/// Creates `dir` and its missing parents as private directories (0700): the one way shroud
/// makes a directory for key files, shares or plaintext. An existing directory is left as it
/// is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// What a write does to a file that has more than one name (hard links).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardLinks {
    /// Refused, and the command offers no way past it: the advice names what exists (another
    /// output file, or a copy of its own for this name).
    Refuse,
    /// Refused; the command takes `--force` to replace this name anyway.
    RefuseUnlessForced,
    /// Replaced (`--force` given): the other names keep the old content.
    Replace,
}

static HARD_LINKS: AtomicU8 = AtomicU8::new(HardLinks::Refuse as u8);

/// Sets what [`write_atomic`] does to a file that has other names (hard links): the command's
/// `--force`, or that it has none. Read once, in `cli::run`.
pub fn hard_links(policy: HardLinks) {
    HARD_LINKS.store(policy as u8, Ordering::SeqCst);
}

fn hard_links_policy() -> HardLinks {
    match HARD_LINKS.load(Ordering::SeqCst) {
        x if x == HardLinks::Replace as u8 => HardLinks::Replace,
        x if x == HardLinks::RefuseUnlessForced as u8 => HardLinks::RefuseUnlessForced,
        _ => HardLinks::Refuse,
    }
}

fn hard_links_refused(path: &Path, links: u64) -> io::Error {
    let advice = if hard_links_policy() == HardLinks::RefuseUnlessForced {
        "pass --force to replace this name only".to_owned()
    } else {
        let name = path.display().to_string();
        let (q, new) = (
            crate::text::shell_quote(&name),
            crate::text::shell_quote(&format!("{name}.new")),
        );
        format!(
            "write to another file, or first give this name a copy of its own, which leaves the other names as they are: `cp {q} {new} && mv {new} {q}`"
        )
    };
    io::Error::other(format!(
        "the file has {links} names (hard links): replacing it would leave the old content (for `encrypt -i`, the plaintext) under the other {} name{}; nothing was written ({advice})",
        links - 1,
        if links > 2 { "s" } else { "" }
    ))
}

/// Gives the new file `f` the owner and group of the file it replaces. When the writer may
/// not (only root may give a file away), the write is refused rather than silently handing
/// the file to the writer, unless the writer already owns it (then only the group may differ).
fn keep_owner(f: &File, old: &fs::Metadata) -> io::Result<()> {
    let new = f.metadata()?;
    if new.uid() == old.uid() && new.gid() == old.gid() {
        return Ok(());
    }
    match std::os::unix::fs::fchown(f, Some(old.uid()), Some(old.gid())) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(1 | 13)) => {
            if old.uid() == new.uid() {
                // Our own file in a group we are not in: keep what we can.
                return Ok(());
            }
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the file belongs to uid {} (gid {}) and shroud runs as uid {}, which cannot give the rewritten file that owner; nothing was written (run as uid {} or as root)",
                    old.uid(),
                    old.gid(),
                    new.uid(),
                    old.uid()
                ),
            ))
        }
        Err(e) => Err(e),
    }
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
            "not a regular file (a device, a pipe or a directory); nothing was written: only a regular file is replaced in place (name a regular file)",
        ))
    }
}

/// A temp file next to the resolved target, owner and group already those of the file it
/// will replace: what [`write_atomic`] checks and prepares before it writes a byte.
struct Staged {
    target: PathBuf,
    dir: PathBuf,
    mode: u32,
    tmp: tempfile::NamedTempFile<File>,
    /// Dropped after `tmp` (fields drop in order): the temp file is gone first.
    guard: CleanupGuard,
}

/// Refuses a symlink (or chain of them) at `path` that another user owns in a sticky
/// world-writable directory (`/tmp`): the kernel's `fs.protected_symlinks` rule, which a
/// rename over the link's target would bypass.
fn check_planted_symlinks(path: &Path) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let Ok(m) = fs::symlink_metadata(&p) else {
            return Ok(());
        };
        if !m.file_type().is_symlink() {
            return Ok(());
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let d = fs::metadata(&dir)?;
        if d.mode() & 0o1002 == 0o1002 && m.uid() != me && m.uid() != d.uid() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is a symbolic link owned by uid {} in the shared directory {}: shroud does not follow it (it may have been planted; fs.protected_symlinks); nothing was written",
                    p.display(),
                    m.uid(),
                    dir.display()
                ),
            ));
        }
        let next = fs::read_link(&p)?;
        p = if next.is_relative() {
            dir.join(next)
        } else {
            next
        };
    }
    Ok(())
}

/// Refuses a file of another user as the target of a [`Mode::Own`] write.
fn check_own(m: &fs::Metadata) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if m.uid() == me {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "it belongs to uid {} (shroud runs as uid {me}): shroud does not write plaintext into another user's file; nothing was written (remove it, or write to a new file)",
            m.uid()
        ),
    ))
}

/// The checks of a [`Mode::Own`] write, for an output that is not replaced but written into
/// (an existing FIFO or device, `--output /dev/stderr`): no symlink another user planted in a
/// sticky directory, and no FIFO or socket of another user (who would read what is written;
/// devices such as `/dev/null` belong to root and are not refused).
pub fn check_own_output(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    check_planted_symlinks(path)?;
    match fs::metadata(path) {
        Ok(m) if m.is_file() || m.file_type().is_fifo() || m.file_type().is_socket() => {
            check_own(&m)
        }
        _ => Ok(()),
    }
}

fn stage(path: &Path, mode: Mode) -> io::Result<Staged> {
    let own = matches!(mode, Mode::Own(_));
    if own {
        check_planted_symlinks(path)?;
    }
    let target = resolve_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let old = match fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if own && let Some(m) = &old {
        check_own(m)?;
    }
    if let Some(m) = &old
        && m.nlink() > 1
        && hard_links_policy() != HardLinks::Replace
    {
        return Err(hard_links_refused(path, m.nlink()));
    }
    let mode = match (mode, &old) {
        (Mode::Exactly(m) | Mode::Own(m), _) => m,
        (Mode::KeepOr(_), Some(m)) => m.permissions().mode() & 0o7777,
        (Mode::KeepOr(m), None) => m,
    };
    remove_stale_temps(&dir);
    // The name is registered for removal on signals before the file exists: no moment when a
    // signal could leave it behind.
    let mut guard = None;
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .make_in(&dir, |p| {
            guard = Some(on_signal_remove(p));
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
        })?;
    let Some(guard) = guard else {
        return Err(io::Error::other("the temp file was not registered"));
    };
    // Owner first: a change of owner clears set-id bits, which the mode then restores. A file
    // of one's own (`Mode::Own`) keeps the writer as its owner.
    if let Some(m) = &old
        && !own
    {
        keep_owner(tmp.as_file(), m)?;
    }
    Ok(Staged {
        target,
        dir,
        mode,
        tmp,
        guard,
    })
}

/// Atomically replaces (or creates) the file `path` resolves to with `bytes`. A crash at any
/// point leaves either the old or the new content, never a mix and never nothing; the temp
/// file is removed if the process is killed by a signal.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Mode) -> io::Result<()> {
    let Staged {
        target,
        dir,
        mode,
        mut tmp,
        guard,
    } = stage(path, mode)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    {
        // The rename happens under the registry's lock, while the temp file is still
        // registered: a signal handler cleaning up either waits for the rename (and the file is
        // complete) or has taken the temp file already (then no rename: it is removed, and the
        // process is ending).
        let mut reg = CLEANUP.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = reg.iter().rposition(|p| p == tmp.path()) else {
            drop(reg);
            wait_for_the_end();
        };
        tmp.persist(&target).map_err(|e| e.error)?;
        reg.swap_remove(i);
    }
    guard.disarm();
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Checks, before the work that produces the content (an editor session), that
/// [`write_atomic`]`(path, _, mode)` would not refuse: a special file, other names (hard
/// links), an owner that cannot be kept, a directory that cannot take the temp file. The error
/// is the one the write would give. A failure only the write itself meets (a full disk)
/// remains possible.
pub fn check_writable(path: &Path, mode: Mode) -> io::Result<()> {
    stage(path, mode).map(drop)
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

/// A private (0700) temporary directory for plaintext handed to other programs (an editor, a
/// command of `exec-file`): under [`private_parent`] (RAM-backed when possible), scrubbed and
/// removed on drop and on any catchable signal; directories of this kind left by earlier runs
/// that crashed are removed first.
pub struct PrivateDir {
    dir: tempfile::TempDir,
    _cleanup: CleanupGuard,
}

impl PrivateDir {
    /// Creates `PREFIX-PID-…` under [`private_parent`].
    pub fn new(prefix: &str) -> io::Result<PrivateDir> {
        let parent = private_parent();
        remove_stale_dirs(&parent, prefix);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(&parent)?;
        let cleanup = on_signal_remove(dir.path());
        Ok(PrivateDir {
            dir,
            _cleanup: cleanup,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        scrub_tree(self.dir.path());
    }
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

/// What the binary runs once, before the first path or child needs cleaning up on a signal:
/// the CLI installs its signal handler there, so a command that never writes a temp file or
/// starts a child (most one-file commands) starts no handler thread.
static ON_FIRST_CLEANUP: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();
static ARMED: std::sync::Once = std::sync::Once::new();

/// Sets what [`arm_signal_cleanup`] runs the first time (the binary's signal handler). Called
/// once, before any verb runs.
pub fn on_first_cleanup(install: fn()) {
    let _ = ON_FIRST_CLEANUP.set(install);
}

/// Makes sure the signal handler is installed: called before a path is registered for
/// removal, before a child is registered for killing, and before a child is run in the
/// foreground. Without an installer (the library alone, the controller) it does nothing.
pub fn arm_signal_cleanup() {
    if let Some(install) = ON_FIRST_CLEANUP.get() {
        ARMED.call_once(install);
    }
}

/// Registers `path` (a file or a directory) to be scrubbed and removed if a signal ends the
/// process before the guard is dropped.
pub fn on_signal_remove(path: &Path) -> CleanupGuard {
    arm_signal_cleanup();
    CLEANUP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_path_buf());
    CleanupGuard {
        path: path.to_path_buf(),
    }
}

/// The registry was emptied by [`cleanup_on_signal`]: the process is ending by a signal, and
/// its handler ends it. Nothing more may be written.
fn wait_for_the_end() -> ! {
    loop {
        std::thread::park();
    }
}

/// Scrubs and removes every registered path. Called by the binary's signal handler just
/// before the process exits; the registry stays locked meanwhile, so a write in progress
/// cannot rename its temp file into place under the cleanup.
pub fn cleanup_on_signal() {
    let mut reg = CLEANUP.lock().unwrap_or_else(|e| e.into_inner());
    let paths = std::mem::take(&mut *reg);
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
/// other's update. The lock file `.NAME.shroud-lock` sits next to the resolved target, holds
/// the holder's pid, is never followed through a symlink, and is removed on release and on
/// any catchable signal.
pub struct FileLock {
    path: PathBuf,
    file: File,
    stale: Option<Stale>,
    _cleanup: CleanupGuard,
}

/// A lock file found without a holder: an earlier shroud ended without removing it (killed
/// with SIGKILL, a crash, a power loss). It was taken over; nothing was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stale {
    /// The process that left it.
    pub pid: u32,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a stale lock file left by shroud process {}, which is no longer running (killed or crashed), was taken over",
            self.pid
        )
    }
}

impl FileLock {
    /// Whether the lock file was left behind by a process that is gone.
    pub fn stale(&self) -> Option<Stale> {
        self.stale
    }
}

fn lock_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.shroud-lock"))
}

/// The pid of the process holding the lock of `path`, as its lock file says (for "waiting
/// for process N" messages); `None` when there is no lock file or it names no process.
pub fn lock_holder(path: &Path) -> Option<u32> {
    let lp = lock_path(&resolve_target(path).ok()?);
    let f = open_lock_file(&lp, false).ok()?.0;
    read_pid(&f)
}

fn read_pid(mut f: &File) -> Option<u32> {
    use std::io::Seek;
    let mut buf = String::new();
    f.seek(io::SeekFrom::Start(0)).ok()?;
    f.take(32).read_to_string(&mut buf).ok()?;
    buf.trim().parse().ok()
}

/// Opens (creating if `create`) the lock file without following a symlink: a link planted at
/// the lock's name must not make shroud create or truncate a file elsewhere. Returns whether
/// the file was created by this call.
fn open_lock_file(lp: &Path, create: bool) -> io::Result<(File, bool)> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let refuse = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the lock file {} is {what}; shroud does not follow or reuse it (it may have been planted): remove it and try again",
                lp.display()
            ),
        )
    };
    let opened = if create {
        // The holder may remove the lock file between our create and our open of the one that
        // exists: then create it again (a few times at most; each miss means progress).
        let mut tries = 0;
        loop {
            let made = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nofollow)
                .open(lp);
            let r = match made {
                Ok(f) => Ok((f, true)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(nofollow)
                    .open(lp)
                    .map(|f| (f, false)),
                Err(e) => Err(e),
            };
            tries += 1;
            match r {
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 100 => continue,
                r => break r,
            }
        }
    } else {
        OpenOptions::new()
            .read(true)
            .custom_flags(nofollow)
            .open(lp)
            .map(|f| (f, false))
    };
    let (file, created) = match opened {
        Ok(x) => x,
        // ELOOP: the last component is a symbolic link.
        Err(e) if e.raw_os_error() == Some(40) => return Err(refuse("a symbolic link")),
        Err(e) => return Err(e),
    };
    let m = file.metadata()?;
    if !m.is_file() {
        return Err(refuse("not a regular file"));
    }
    if m.nlink() > 1 {
        return Err(refuse("a hard link to another file"));
    }
    Ok((file, created))
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
    use std::io::Seek;
    let target = resolve_target(path)?;
    let lp = lock_path(&target);
    let (mut file, created) = open_lock_file(&lp, true)?;
    let waited = if block {
        file.lock()?;
        true
    } else {
        match file.try_lock() {
            Ok(()) => false,
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    };
    // The previous holder may have removed the lock file after we opened it: then our lock
    // is on an unlinked inode and excludes no one.
    let same = match (fs::symlink_metadata(&lp), file.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    };
    if !same {
        return Ok(None);
    }
    // A lock file we did not create, that nobody held and whose process is gone: its holder
    // ended without removing it.
    let stale = if created || waited {
        None
    } else {
        read_pid(&file)
            .filter(|p| *p != std::process::id() && !alive(*p as i32))
            .map(|pid| Stale { pid })
    };
    let cleanup = on_signal_remove(&lp);
    file.set_len(0)?;
    file.seek(io::SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Some(FileLock {
        path: lp,
        file,
        stale,
        _cleanup: cleanup,
    }))
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
    #[test]
    fn files_with_other_names_are_refused_unless_allowed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        let other = d.path().join("other.yaml");
        fs::write(&p, "plain").unwrap();
        fs::hard_link(&p, &other).unwrap();
        // (HARD_LINKS is process-wide: only this test sets it, and resets it.)
        let e = write_atomic(&p, b"cipher", Mode::KeepOr(0o644)).unwrap_err();
        assert!(!e.to_string().contains("--force"), "{e}");
        assert!(e.to_string().contains("cp "), "{e}");
        hard_links(HardLinks::RefuseUnlessForced);
        let e = write_atomic(&p, b"cipher", Mode::KeepOr(0o644)).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(fs::read(&p).unwrap(), b"plain");
        hard_links(HardLinks::Replace);
        let r = write_atomic(&p, b"cipher", Mode::KeepOr(0o644));
        hard_links(HardLinks::Refuse);
        r.unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"cipher");
        assert_eq!(fs::read(&other).unwrap(), b"plain");
    }

    #[test]
    fn owner_and_group_are_kept_when_root_rewrites() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        fs::write(&p, "x").unwrap();
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"y", Mode::KeepOr(0o644)).unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (65534, 65534, 0o640));
    }

    #[test]
    fn lock_files_are_never_followed_and_stale_ones_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.yaml");
        fs::write(&p, "x").unwrap();
        let victim = d.path().join("victim");
        std::os::unix::fs::symlink(&victim, lock_path(&p)).unwrap();
        let e = try_lock(&p).err().expect("a planted symlink is refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!victim.exists());
        fs::remove_file(lock_path(&p)).unwrap();
        // A lock file left by a dead process (pid above pid_max's default range).
        fs::write(lock_path(&p), "4194311\n").unwrap();
        let l = try_lock(&p).unwrap().unwrap();
        assert_eq!(l.stale(), Some(Stale { pid: 4194311 }));
        assert_eq!(lock_holder(&p), Some(std::process::id()));
        drop(l);
        assert!(!lock_path(&p).exists());
        let l = try_lock(&p).unwrap().unwrap();
        assert_eq!(l.stale(), None);
    }
}
