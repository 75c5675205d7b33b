//! Content types as dockerd reads them: which a JSON body needs, and which would make Go read
//! parameters from the body instead of the query. It reads no body itself.

use super::InspectError;

/// dockerd's `httputils.CheckForJSON`: no Content-Type is fine only for an empty body; otherwise
/// the media type (parameters allowed, as `mime.ParseMediaType` reads it) must be JSON.
pub(super) fn check_json(content_type: Option<&[u8]>, body: &[u8]) -> Result<(), InspectError> {
    match content_type {
        None if body.is_empty() => Ok(()),
        None => Err(InspectError::MissingContentType),
        Some(raw) => match media_type(raw) {
            Some(mt) if mt == "application/json" => Ok(()),
            _ => Err(InspectError::ContentType(String::from_utf8_lossy(raw).into_owned())),
        },
    }
}

/// Go's `Request.FormValue` reads parameters from an urlencoded or multipart body before the
/// query; a body of that type could override the query sockgate judged, so it is refused. Go's
/// `parsePostForm` ignores `mime.ParseMediaType`'s error and keeps the media type it returns even
/// when a parameter is malformed, so only the type before the first `;` counts here.
pub(super) fn check_not_form(content_type: Option<&[u8]>) -> Result<(), InspectError> {
    let Some(raw) = content_type else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(raw);
    let kind = go_lower(text.split(';').next().unwrap_or("").trim());
    if kind == "application/x-www-form-urlencoded" || kind == "multipart/form-data" {
        return Err(InspectError::FormBody(text.into_owned()));
    }
    Ok(())
}

/// The lower-cased `type/subtype` of a Content-Type value, as Go's `mime.ParseMediaType` returns
/// it, or `None` where Go would fail to parse it.
pub fn media_type(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.split(';');
    let mt = go_lower(parts.next()?.trim());
    let (kind, sub) = mt.split_once('/')?;
    if !is_token(kind) || !is_token(sub) {
        return None;
    }
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (key, value) = param.split_once('=')?;
        let value = value.trim();
        let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
        if !is_token(key.trim()) || (!quoted && !is_token(value)) {
            return None;
        }
    }
    Some(mt)
}

/// Go's `strings.ToLower`, which `mime.ParseMediaType` applies to the media type: each character
/// by its simple Unicode mapping, so `İ` (dotted capital I) is `i` and the Kelvin sign is `k`, and
/// `applİcation/x-www-form-urlencoded` is a form to Go.
fn go_lower(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (c, lower.next(), lower.next()) {
                // Rust's full mapping adds a combining dot; the simple one is a plain `i`.
                ('\u{130}', _, _) => 'i',
                (_, Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_parse_as_go_does() {
        assert_eq!(media_type(b"application/json").as_deref(), Some("application/json"));
        assert_eq!(media_type(b"Application/JSON; charset=utf-8").as_deref(), Some("application/json"));
        assert_eq!(media_type(b"application/json; charset=\"utf-8\"").as_deref(), Some("application/json"));
        assert_eq!(media_type(b"application/json;"), Some("application/json".into()));
        assert_eq!(media_type(b"application/json; charset"), None);
        assert_eq!(media_type(b"application"), None);
        assert_eq!(media_type(b"text/plain").as_deref(), Some("text/plain"));
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        assert!(check_json(None, b"").is_ok());
        assert!(matches!(check_json(None, b"{}"), Err(InspectError::MissingContentType)));
        assert!(matches!(check_json(Some(b"text/plain"), b"{}"), Err(InspectError::ContentType(_))));
        assert!(check_json(Some(b"application/json; charset=utf-8"), b"{}").is_ok());
        assert!(matches!(check_not_form(Some(b"application/x-www-form-urlencoded")), Err(InspectError::FormBody(_))));
        assert!(check_not_form(Some(b"application/x-tar")).is_ok());
        assert!(matches!(
            check_not_form(Some(b"application/x-www-form-urlencoded; charset")),
            Err(InspectError::FormBody(_))
        ));
        assert!(matches!(check_not_form(Some(b"Multipart/Form-Data; boundary=")), Err(InspectError::FormBody(_))));
        // Go lower-cases `İ` to `i`: these are forms to dockerd, which would read parameters from them.
        for form in ["appl\u{130}cation/x-www-form-urlencoded", "mult\u{130}part/form-data; boundary=x"] {
            assert!(matches!(check_not_form(Some(form.as_bytes())), Err(InspectError::FormBody(_))), "{form}");
        }
        assert_eq!(media_type("appl\u{130}cation/json".as_bytes()).as_deref(), Some("application/json"));
    }
}
