//! sockgate's own log on standard error: which lines it keeps (`--log-level`), how they are
//! written (`--log-format`: `key=value` text or JSON lines), and whether every request gets a line
//! (`--access-log`).
//!
//! A level is checked before logging starts. `tracing`'s filter syntax reads any bare word as a
//! target name, so a typo such as `warning` or `verbose` would silently keep nothing, denials
//! included; only level names, and `target=level` directives with a level name, are accepted.
//! Text values with spaces, quotes or `=` are quoted and escaped, so each line splits into
//! `key=value` pairs (the logfmt convention) after its time, level and message.

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
    /// The filter for the subscriber, with the access log on or off whatever the level.
    pub fn env_filter(&self, access_log: bool) -> tracing_subscriber::EnvFilter {
        let access = if access_log { "info" } else { "off" };
        tracing_subscriber::EnvFilter::new(format!("{},{ACCESS_TARGET}={access}", self.0))
    }
}

/// The target of the access log's lines, one per request, at `info`.
pub const ACCESS_TARGET: &str = "sockgate::access";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Time, level, message, then `key=value` pairs.
    #[default]
    Text,
    /// One JSON object per line, its fields at the top level.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{s}` is not a log format: use `text` or `json`")),
        }
    }
}

/// Starts logging to `writer`.
pub fn init<W>(filter: &LogFilter, format: LogFormat, access_log: bool, writer: W, ansi: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter.env_filter(access_log)).with_writer(writer);
    match format {
        LogFormat::Text => builder.with_target(false).with_ansi(ansi).fmt_fields(KeyValues).init(),
        LogFormat::Json => {
            builder.json().flatten_event(true).with_current_span(false).with_span_list(false).with_target(false).init()
        }
    }
}

/// Writes an event's fields as its message, then ` key=value` for each other field.
struct KeyValues;

impl<'w> tracing_subscriber::field::MakeVisitor<tracing_subscriber::fmt::format::Writer<'w>> for KeyValues {
    type Visitor = KeyValueVisitor<'w>;

    fn make_visitor(&self, writer: tracing_subscriber::fmt::format::Writer<'w>) -> KeyValueVisitor<'w> {
        KeyValueVisitor { writer, result: Ok(()), empty: true }
    }
}

struct KeyValueVisitor<'w> {
    writer: tracing_subscriber::fmt::format::Writer<'w>,
    result: fmt::Result,
    empty: bool,
}

impl KeyValueVisitor<'_> {
    fn write(&mut self, name: &str, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.empty { "" } else { " " };
        self.empty = false;
        self.result = if name == "message" {
            write!(self.writer, "{separator}{value}")
        } else {
            write!(self.writer, "{separator}{name}={}", quoted(value))
        };
    }
}

impl tracing::field::Visit for KeyValueVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.write(field.name(), value);
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.write(field.name(), &format!("{value:?}"));
    }
}

impl tracing_subscriber::field::VisitOutput<fmt::Result> for KeyValueVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl tracing_subscriber::field::VisitFmt for KeyValueVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// A value as one `key=value` token: as is when it has no space, quote, `=` or control
/// character and is not empty, else in double quotes with JSON's escapes.
fn quoted(value: &str) -> std::borrow::Cow<'_, str> {
    let plain =
        !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
    if plain {
        std::borrow::Cow::Borrowed(value)
    } else {
        std::borrow::Cow::Owned(serde_json::Value::String(value.to_string()).to_string())
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
    fn values_that_would_not_split_are_quoted() {
        assert_eq!(quoted("containers.create"), "containers.create");
        assert_eq!(quoted("uid=0 gid=0 pid=1 via unix:///s"), r#""uid=0 gid=0 pid=1 via unix:///s""#);
        assert_eq!(quoted(""), r#""""#);
        assert_eq!(quoted(r#"say "hi""#), r#""say \"hi\"""#);
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
