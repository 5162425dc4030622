//! SQLite's memory goes through mimalloc, like the rest of the process.
//!
//! Left to itself SQLite allocates through the C library, and with its memory
//! statistics on (the default) it takes a global mutex around every allocation. An
//! import binds a dozen strings per row, each copied into a fresh allocation, so in a
//! profile of a 1M-row import glibc's allocator and that mutex took about 14% of all
//! the samples, on SQLite's thread (docs/performance.md).

use std::ffi::{c_int, c_void};
use std::sync::Once;

unsafe extern "C" fn allocate(bytes: c_int) -> *mut c_void {
    // SAFETY: mi_malloc accepts any size and returns null when out of memory, which
    // SQLite handles.
    unsafe { libmimalloc_sys::mi_malloc(usize::try_from(bytes).unwrap_or(0)) }
}

unsafe extern "C" fn release(pointer: *mut c_void) {
    // SAFETY: SQLite frees only what `allocate` or `reallocate` returned.
    unsafe { libmimalloc_sys::mi_free(pointer) }
}

unsafe extern "C" fn reallocate(pointer: *mut c_void, bytes: c_int) -> *mut c_void {
    // SAFETY: as for `release`; SQLite never asks for a negative size.
    unsafe { libmimalloc_sys::mi_realloc(pointer, usize::try_from(bytes).unwrap_or(0)) }
}

unsafe extern "C" fn allocated_size(pointer: *mut c_void) -> c_int {
    // SAFETY: SQLite asks only about live allocations of its own.
    let bytes = unsafe { libmimalloc_sys::mi_usable_size(pointer) };
    c_int::try_from(bytes).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn rounded_size(bytes: c_int) -> c_int {
    // SAFETY: a pure size computation.
    let rounded = unsafe { libmimalloc_sys::mi_good_size(usize::try_from(bytes).unwrap_or(0)) };
    c_int::try_from(rounded).unwrap_or(bytes)
}

unsafe extern "C" fn no_setup(_: *mut c_void) -> c_int {
    libsqlite3_sys::SQLITE_OK
}

unsafe extern "C" fn no_teardown(_: *mut c_void) {}

/// Points SQLite at mimalloc, without memory statistics. Only the first call does
/// anything, and only when it comes before SQLite's first use in this process; a
/// later one leaves SQLite on its own allocator, which works the same, only slower.
/// Every place in this crate that opens SQLite calls it first.
pub(crate) fn use_mimalloc() {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        let methods = libsqlite3_sys::sqlite3_mem_methods {
            xMalloc: Some(allocate),
            xFree: Some(release),
            xRealloc: Some(reallocate),
            xSize: Some(allocated_size),
            xRoundup: Some(rounded_size),
            xInit: Some(no_setup),
            xShutdown: Some(no_teardown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: sqlite3_config must not run while another thread initialises or
        // uses SQLite. Every opener in this crate calls this function first, and
        // `Once` holds a concurrent caller until the first call is done, so SQLite is
        // either not yet initialised (the only time the call succeeds) or already
        // initialised, when it returns SQLITE_MISUSE without touching anything.
        // SQLite copies the methods, and the functions they name live as long as the
        // program.
        let configured = unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as c_int)
                == libsqlite3_sys::SQLITE_OK
                && libsqlite3_sys::sqlite3_config(
                    libsqlite3_sys::SQLITE_CONFIG_MALLOC,
                    &methods as *const libsqlite3_sys::sqlite3_mem_methods,
                ) == libsqlite3_sys::SQLITE_OK
        };
        if !configured {
            tracing::debug!("SQLite was already in use; it keeps the C library's allocator");
        }
    });
}
