//! SQLite's memory: small blocks from a fixed heap in .bss, big ones from
//! malloc.
//!
//! Why: kit-run is a fresh process for every execution, and on a musl
//! static build most of its time went to the C allocator, which maps and
//! unmaps pages for SQLite's many short-lived blocks (about 90 mmap/munmap
//! calls and as many page faults per run). SQLite's own buddy allocator
//! (memsys5) over a static buffer costs no system call at all, and pages of
//! .bss cost nothing until touched. A block the heap cannot serve (bigger
//! than [`SMALL`], e.g. a task's captured output, or the heap is full) comes
//! from malloc, so no request ever fails for want of heap: the heap is an
//! optimisation, never a limit. Measured in docs/decisions.md#kit-run.

use rusqlite::ffi;
use std::cell::UnsafeCell;
use std::os::raw::{c_int, c_void};

const HEAP_BYTES: usize = 8 << 20;
/// Blocks up to this size come from the heap (memsys5 rounds every block
/// up to a power of two, so bigger ones would waste more than they save).
pub const SMALL: c_int = 64 << 10;
/// memsys5's smallest block.
const MIN_BLOCK: c_int = 32;

#[repr(C, align(4096))]
struct Heap(UnsafeCell<[u8; HEAP_BYTES]>);
// SAFETY: only SQLite's memsys5 touches the buffer, under its own mutex.
unsafe impl Sync for Heap {}
static HEAP: Heap = Heap(UnsafeCell::new([0; HEAP_BYTES]));

/// A table of allocator methods in a static.
struct Methods(UnsafeCell<ffi::sqlite3_mem_methods>);
// SAFETY: FIVE is written once inside `install`'s Once, before anything
// can read it; WRAPPED is never written.
unsafe impl Sync for Methods {}
/// memsys5's methods, read once before SQLite starts.
static FIVE: Methods = Methods(UnsafeCell::new(ffi::sqlite3_mem_methods {
    xMalloc: None,
    xFree: None,
    xRealloc: None,
    xSize: None,
    xRoundup: None,
    xInit: None,
    xShutdown: None,
    pAppData: std::ptr::null_mut(),
}));

/// What SQLite is given (it copies the struct).
static WRAPPED: Methods = Methods(UnsafeCell::new(ffi::sqlite3_mem_methods {
    xMalloc: Some(x_malloc),
    xFree: Some(x_free),
    xRealloc: Some(x_realloc),
    xSize: Some(x_size),
    xRoundup: Some(x_roundup),
    xInit: Some(x_init),
    xShutdown: Some(x_shutdown),
    pAppData: std::ptr::null_mut(),
}));

/// Sets SQLite's allocator up, once per process, before its first use. If
/// SQLite was already initialised (so it refuses), it keeps malloc.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before SQLite is initialised (or
        // fails harmlessly with SQLITE_MISUSE); the heap is static and
        // 4096-aligned; FIVE is written before WRAPPED, which reads it, is
        // handed to SQLite.
        unsafe {
            let heap = HEAP.0.get().cast::<u8>();
            if ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_HEAP,
                heap,
                HEAP_BYTES as c_int,
                MIN_BLOCK,
            ) != ffi::SQLITE_OK
            {
                return;
            }
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETMALLOC, FIVE.0.get()) != ffi::SQLITE_OK
                || ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, WRAPPED.0.get()) != ffi::SQLITE_OK
            {
                // Never memsys5 without the fallback (big outputs would not
                // fit): back to SQLite's default, malloc.
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_HEAP, std::ptr::null_mut::<u8>(), 0, 0);
            }
        }
    });
}

fn five() -> &'static ffi::sqlite3_mem_methods {
    // SAFETY: see FIVE.
    unsafe { &*FIVE.0.get() }
}

/// Whether SQLite's block `p` lies in the static heap.
pub fn owns(p: *mut c_void) -> bool {
    let start = HEAP.0.get() as usize;
    (start..start + HEAP_BYTES).contains(&(p as usize))
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    if n <= SMALL {
        let p = five().xMalloc.map_or(std::ptr::null_mut(), |f| f(n));
        if !p.is_null() {
            return p;
        }
    }
    libc::malloc(n.max(0) as usize)
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if owns(p) {
        if let Some(f) = five().xFree {
            f(p)
        }
    } else {
        libc::free(p)
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        0
    } else if owns(p) {
        five().xSize.map_or(0, |f| f(p))
    } else {
        crate::platform::malloc_block_size(p).min(c_int::MAX as usize) as c_int
    }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if !owns(p) {
        return libc::realloc(p, n.max(0) as usize);
    }
    if n <= SMALL {
        let q = five().xRealloc.map_or(std::ptr::null_mut(), |f| f(p, n));
        if !q.is_null() {
            return q;
        }
    }
    // Moves out of the heap: too big for it now, or it is full.
    let q = libc::malloc(n.max(0) as usize);
    if !q.is_null() {
        let keep = x_size(p).min(n).max(0) as usize;
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), keep);
        x_free(p);
    }
    q
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    match five().xRoundup {
        Some(f) if n <= SMALL => f(n),
        _ => n,
    }
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    let m = five();
    m.xInit.map_or(ffi::SQLITE_OK, |f| f(m.pAppData))
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {
    let m = five();
    if let Some(f) = m.xShutdown {
        f(m.pAppData)
    }
}
