//! Large test files with known content, and their digests as `sha256sum` prints them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::process::run;

pub const MIB: usize = 1024 * 1024;

/// Writes `len` bytes of incompressible pseudo-random data (xorshift64*, seeded), so that a
/// transfer that drops, repeats or reorders a block cannot keep the digest.
pub fn write_pseudo_random(path: &Path, len: usize, seed: u64) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(MIB, file);
    let mut state = seed | 1;
    let mut written = 0;
    while written < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        let take = word.len().min(len - written);
        out.write_all(&word[..take])?;
        written += take;
    }
    out.flush()?;
    Ok(())
}

/// The hex SHA-256 of a host file, from the host's `sha256sum`.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut cmd = Command::new("sha256sum");
    cmd.arg(path);
    let out = run(cmd, None, Duration::from_secs(60))?.ok()?;
    first_word(&out.stdout)
}

/// The digest from a `sha256sum` line (`<hex>  <name>`).
pub fn first_word(line: &str) -> Result<String> {
    line.split_whitespace().next().map(str::to_owned).with_context(|| format!("no digest in `{line}`"))
}
