//! SQLite's allocator (kit_db::store::heap): small blocks from the static
//! heap, big ones and overflow from malloc. A test binary of its own, so
//! that nothing initialises SQLite before the first Store::open installs it.

use kit_db::store::heap::{owns, SMALL};
use kit_db::Store;
use rusqlite::ffi;

#[test]
fn small_blocks_come_from_the_heap_and_big_ones_from_malloc() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(&dir.path().join("kit.db")).unwrap();
    // SAFETY: blocks from sqlite3_malloc, freed with sqlite3_free.
    unsafe {
        let small = ffi::sqlite3_malloc(100);
        let big = ffi::sqlite3_malloc(SMALL + 1);
        assert!(!small.is_null() && !big.is_null());
        assert!(owns(small), "a small block should come from the heap");
        assert!(!owns(big), "a big block should come from malloc");
        // Growing a heap block past SMALL moves it to malloc, intact.
        std::ptr::write_bytes(small.cast::<u8>(), 0xAB, 100);
        let moved = ffi::sqlite3_realloc(small, SMALL * 2);
        assert!(!moved.is_null() && !owns(moved));
        assert!(std::slice::from_raw_parts(moved.cast::<u8>(), 100)
            .iter()
            .all(|&b| b == 0xAB));
        ffi::sqlite3_free(moved);
        ffi::sqlite3_free(big);
    }
}

/// Blocks too big for the heap, and small ones once the heap is full,
/// come from malloc: nothing fails and nothing is corrupted.
#[test]
fn big_blocks_and_a_full_heap_fall_back_to_malloc() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("kit.db")).unwrap();
    let conn = &store.conn;
    // A page cache of 32 MiB: its 4 KiB pages alone outgrow the heap.
    conn.execute_batch(
        "PRAGMA cache_size = -32768; CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)",
    )
    .unwrap();
    let blob = |i: usize| -> Vec<u8> { (0..(1 << 20) + i).map(|j| (j * 7 + i) as u8).collect() };
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..16 {
        tx.execute(
            "INSERT INTO blobs (id, b) VALUES (?1, ?2)",
            (i as i64, blob(i)),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    for i in 0..16 {
        let b: Vec<u8> = conn
            .query_row("SELECT b FROM blobs WHERE id = ?1", [i as i64], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(b == blob(i), "blob {i} came back different");
    }
}
