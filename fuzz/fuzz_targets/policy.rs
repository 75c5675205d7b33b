//! The policy parser on arbitrary text: it never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Policy::from_sources("fuzz", &[("fuzz.toml".to_owned(), text.to_owned())]);
});
