//! The promise that decrypted values are wiped, tested as an attacker reading freed memory
//! would: an allocator that, while armed, looks into every block given back (and treats every
//! reallocation as a copy and a free, as an allocator may) for a marker the plaintext holds.
//! Every store writes a decrypted tree with the marker in its values, each in a shape that
//! makes its output grow; no freed block may still hold the marker.
//!
//! Its own test binary: a global allocator is one per program.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use shroud::secret::SecretBytes;
use shroud::store::{self, EmitOptions, Format};

/// Never appears in the test's source as one piece, so the literals below do not match it.
fn marker() -> String {
    ["Pl41n", "T3xt", "M4rk3r"].concat()
}

struct Spy;

static ARMED: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
/// The marker's bytes, set before arming (the spy must not allocate).
static MARK: Mutex<[u8; 15]> = Mutex::new([0; 15]);

fn holds_mark(block: &[u8]) -> bool {
    let Ok(mark) = MARK.try_lock() else {
        return false;
    };
    block.windows(mark.len()).any(|w| w == *mark)
}

// SAFETY: every call is forwarded to the system allocator with the same layout; the spy only
// reads a block before it is given back, while the block is still valid.
unsafe impl GlobalAlloc for Spy {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes until the call below.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if holds_mark(block) {
                FOUND.fetch_add(1, Ordering::SeqCst);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !ARMED.load(Ordering::SeqCst) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // As an allocator may: a new block, the bytes copied, the old block freed as it is.
        let new_layout = Layout::from_size_align(new_size, layout.align()).expect("layout");
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Spy = Spy;

/// Parses `src` (unarmed: only writing is tested), then writes it armed, keeps the output as
/// a caller does (wiped on drop) and drops it; returns how many freed blocks held the marker.
fn leaks_when_written(format: Format, src: impl FnOnce() -> String) -> usize {
    // One test at a time: another test building its input (freeing copies of the marker as
    // it goes) must not run while this one is armed.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let src = src();
    let tree = store::load_plain(format, src.as_bytes()).expect("parses");
    MARK.lock()
        .unwrap_or_else(|e| e.into_inner())
        .copy_from_slice(marker().as_bytes());
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let out = store::emit_plain(format, &tree, EmitOptions::default()).map(SecretBytes::new);
    let ok = out.as_ref().is_ok_and(|o| o.len() > src.len() / 4);
    drop(out);
    ARMED.store(false, Ordering::SeqCst);
    assert!(ok, "{format:?}: the writer failed or wrote too little");
    FOUND.load(Ordering::SeqCst)
}

fn many(line: impl Fn(usize, &str) -> String) -> String {
    let m = marker();
    (0..3_000).map(|i| line(i, &m)).collect()
}

#[test]
fn yaml_spliced_output_that_grows_is_wiped() {
    // A multi-line value deep in the file outgrows the size the splice planned for.
    let src = || {
        let body = many(|i, m| format!("        {m} line {i}\n"));
        format!("a:\n  b:\n    c:\n      d: |\n{body}      e: x\n")
    };
    assert_eq!(leaks_when_written(Format::Yaml, src), 0);
}

#[test]
fn yaml_written_afresh_is_wiped() {
    // CRLF line breaks: the file is written afresh, not spliced.
    let src = || many(|i, m| format!("key{i}: \"{m} {i}\\t\"\r\n"));
    assert_eq!(leaks_when_written(Format::Yaml, src), 0);
}

#[test]
fn json_dotenv_and_ini_are_wiped() {
    let json = || {
        format!(
            "{{{}\"end\": 1}}",
            many(|i, m| format!("\"k{i}\": \"{m}\\n{i}\", "))
        )
    };
    assert_eq!(leaks_when_written(Format::Json, json), 0, "JSON");
    let env = || many(|i, m| format!("K{i}={m}\\n{i}\n"));
    assert_eq!(leaks_when_written(Format::Dotenv, env), 0, "dotenv");
    let ini = || format!("[s]\n{}", many(|i, m| format!("k{i} = {m};{i}\n")));
    assert_eq!(leaks_when_written(Format::Ini, ini), 0, "INI");
}
