//! The configuration parser on arbitrary text: it never panics.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sockgate::config::file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = file::parse("fuzz.toml", text, Path::new("/nonexistent"));
});
