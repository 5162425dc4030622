//! Cache prefetch hints, shared by the indexes and the tagger: both look up structures
//! of megabytes at random, and ask for what they will read next before they read it.

/// Asks the memory system for the cache line holding `pointer`, without waiting for it.
#[inline(always)]
pub(crate) fn read<T>(pointer: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(pointer.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = pointer;
}
