//! In-memory indexes built from the store at start-up.

pub mod addresses;
pub mod divisions;
pub mod points;
pub mod polygons;

/// Asks the memory system for the cache line holding `pointer`, without waiting for it.
#[inline(always)]
pub(crate) fn prefetch_read<T>(pointer: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(pointer.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = pointer;
}
