//! sockgate's own log on standard error: which lines it keeps (`--log-level`).
//!
//! A level is checked before logging starts. `tracing`'s filter syntax reads any bare word as a
//! target name, so a typo such as `warning` or `verbose` would silently keep nothing, denials
//! included; only level names, and `target=level` directives with a level name, are accepted.

use std::fmt;
use std::str::FromStr;

/// The level names `--log-level` accepts, in the order they are listed to users.
pub const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// A checked `--log-level`: a level name or `tracing` directives that each name a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter(String);

/// Why a `--log-level` was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a log level: use one of error, warn, info, debug, trace (`warning` and `off` also work), \
     or directives such as `info,sockgate=debug`"
)]
pub struct LogFilterError(String);

/// The level a word names, with `warning` read as `warn` (as syslog and Python spell it).
fn level(word: &str) -> Option<&'static str> {
    let word = word.trim().to_ascii_lowercase();
    match word.as_str() {
        "warning" => Some("warn"),
        "off" => Some("off"),
        _ => LEVELS.iter().find(|l| **l == word).copied(),
    }
}

impl FromStr for LogFilter {
    type Err = LogFilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || LogFilterError(s.to_string());
        let mut directives = Vec::new();
        for part in s.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(refuse());
            }
            let directive = match part.rsplit_once('=') {
                None => level(part).ok_or_else(refuse)?.to_string(),
                Some((target, word)) if !target.trim().is_empty() => {
                    format!("{}={}", target.trim(), level(word).ok_or_else(refuse)?)
                }
                Some(_) => return Err(refuse()),
            };
            directives.push(directive);
        }
        let filter = directives.join(",");
        // Whatever `tracing` itself cannot read (a malformed target or span) is refused too.
        tracing_subscriber::EnvFilter::try_new(&filter).map_err(|_| refuse())?;
        Ok(LogFilter(filter))
    }
}

impl LogFilter {
    /// The filter for the subscriber.
    pub fn env_filter(&self) -> tracing_subscriber::EnvFilter {
        tracing_subscriber::EnvFilter::new(&self.0)
    }
}

impl fmt::Display for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<String> {
        s.parse::<LogFilter>().ok().map(|f| f.to_string())
    }

    #[test]
    fn levels_and_directives_with_levels_are_accepted() {
        assert_eq!(parse("info").as_deref(), Some("info"));
        assert_eq!(parse("WARNING").as_deref(), Some("warn"));
        assert_eq!(parse("info,sockgate=debug").as_deref(), Some("info,sockgate=debug"));
        assert_eq!(parse("hyper=warning, trace").as_deref(), Some("hyper=warn,trace"));
        assert_eq!(parse("off").as_deref(), Some("off"));
    }

    #[test]
    fn words_that_are_no_level_are_refused() {
        for bad in ["verbose", "warnings", "", "info,", "sockgate", "sockgate=loud", "=info", "info,debug=x"] {
            assert_eq!(parse(bad), None, "{bad:?} was accepted");
        }
        let message = "loud".parse::<LogFilter>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("`loud` is not a log level") && message.contains("error, warn, info, debug, trace"));
    }
}
