//! The allocator's settings. The binary allocates with mimalloc, which by default keeps pages it
//! freed resident until the thread that freed them allocates again, a second or more later. A
//! gateway that goes quiet (its connections parked, its callers idle) would then hold the memory
//! of its busiest moment for as long as it stays quiet; so freed pages are returned at once. The
//! bench measures this at no cost to the request rate.

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (`libmimalloc-sys` does not name it):
/// how long, in milliseconds, freed pages stay resident.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return freed pages to the system as soon as they are free. Call it first thing.
pub fn release_freed_pages_at_once() {
    // SAFETY: sets one option's value; mimalloc reads its options at each use, from any thread.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// The purge delay mimalloc now uses.
pub fn purge_delay() -> std::ffi::c_long {
    // SAFETY: reads one option's value.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_get(PURGE_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by the test below in a child process, with the environment variable mimalloc reads for
    /// its purge delay: the option number is the one that variable sets.
    #[test]
    #[ignore = "run by the_purge_delay_option_is_the_one_its_variable_sets"]
    fn child_reads_the_purge_delay_from_its_variable() {
        let expected = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse::<std::ffi::c_long>().ok());
        assert_eq!(Some(purge_delay()), expected);
        release_freed_pages_at_once();
        assert_eq!(purge_delay(), 0);
    }

    #[test]
    fn the_purge_delay_option_is_the_one_its_variable_sets() {
        let exe = std::env::current_exe().unwrap_or_else(|e| unreachable!("{e}"));
        let output = std::process::Command::new(exe)
            .args(["--exact", "allocator::tests::child_reads_the_purge_delay_from_its_variable", "--ignored"])
            .env("MIMALLOC_PURGE_DELAY", "1234")
            .output()
            .unwrap_or_else(|e| unreachable!("{e}"));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && text.contains("1 passed"),
            "{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
