//! Turns the TOML deserializer's error into [`Problems`]: its message on one line, and every
//! unknown key in the file (found by [`super::keys`]) rather than only the first. It does not
//! check values; the loaders do.

use super::keys::{self, Shape};
use super::{position, unknown_key, Problems};

/// Reports a file that did not deserialize: every unknown key in it (the usual cause, and there
/// may be several), and the deserializer's own error when it is about something else.
pub fn report_toml_error(
    errors: &mut Problems,
    file: &str,
    text: &str,
    error: &toml::de::Error,
    shape: &'static [(&'static str, Shape)],
) {
    let unknown = keys::unknown(text, shape);
    let about_keys = error.message().starts_with("unknown field");
    if !about_keys || unknown.is_empty() {
        errors.push(file.to_string(), error.span().map(|s| position(text, s.start)), toml_message(error.message()));
    }
    for (offset, message) in unknown {
        errors.push(file.to_string(), Some(position(text, offset)), message);
    }
}

/// toml's message on one line, with a suggestion for a misspelt key.
fn toml_message(message: &str) -> String {
    let message = message.trim().trim_end_matches('.').replace('\n', " ");
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message;
    };
    let Some((key, expected)) = rest.split_once('`') else {
        return message;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    unknown_key(key, &candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_field_reads_as_an_unknown_key() {
        assert_eq!(
            toml_message("unknown field `alow`, expected one of `allow`, `deny`\n"),
            "unknown key `alow`, did you mean `allow`?"
        );
        assert_eq!(
            toml_message("invalid type: integer `3`, expected a string.\n"),
            "invalid type: integer `3`, expected a string"
        );
    }
}
