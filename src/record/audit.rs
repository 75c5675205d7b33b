//! The audit log: one JSON line per decided request, to standard output or a file that `SIGHUP`
//! reopens (for logrotate). Lines carry what was decided about whom, never secrets: no headers
//! (so no `X-Registry-Auth` or `Authorization`), no bodies (so no environment values). It does not
//! decide anything.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::Serialize;

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    Stdout,
    File(PathBuf),
}

impl std::fmt::Display for AuditTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditTarget::Stdout => f.write_str("standard output"),
            AuditTarget::File(path) => write!(f, "`{}`", path.display()),
        }
    }
}

impl AuditTarget {
    /// `-` is standard output; anything else a file path.
    pub fn parse(s: &str) -> AuditTarget {
        if s == "-" {
            AuditTarget::Stdout
        } else {
            AuditTarget::File(PathBuf::from(s))
        }
    }
}

/// One audit line.
#[derive(Debug, Serialize)]
pub struct AuditLine<'a> {
    pub time: String,
    pub listener: &'a str,
    pub client: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub operation: &'a str,
    pub resource: &'a str,
    /// Whose objects the caller reaches, when ownership is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    /// `allow`, `deny`, `audit` (denied by the policy but let through in audit mode) or `refuse`.
    pub decision: &'a str,
    pub rules: &'a [String],
    pub reason: &'a str,
    pub status: u16,
    pub duration_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// An open audit log.
pub struct AuditLog {
    target: AuditTarget,
    file: Mutex<Option<File>>,
}

impl AuditLog {
    /// Opens the target (a file is appended to and created with mode 0600).
    pub fn open(target: AuditTarget) -> io::Result<AuditLog> {
        let file = match &target {
            AuditTarget::Stdout => None,
            AuditTarget::File(path) => Some(open_file(path)?),
        };
        Ok(AuditLog { target, file: Mutex::new(file) })
    }

    /// Reopens a file target, after logrotate moved the old one away.
    pub fn reopen(&self) -> io::Result<()> {
        if let AuditTarget::File(path) = &self.target {
            let file = open_file(path)?;
            *self.file.lock() = Some(file);
        }
        Ok(())
    }

    /// Writes one line; a failed write is logged, never fatal to the request.
    pub fn write(&self, line: &AuditLine<'_>) {
        let Ok(mut text) = serde_json::to_string(line) else { return };
        text.push('\n');
        let result = match &self.target {
            AuditTarget::Stdout => io::stdout().lock().write_all(text.as_bytes()),
            AuditTarget::File(_) => self.file.lock().as_mut().map_or(Ok(()), |f| f.write_all(text.as_bytes())),
        };
        if let Err(e) = result {
            tracing::warn!("cannot write the audit log: {e}");
        }
    }
}

fn open_file(path: &PathBuf) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}
