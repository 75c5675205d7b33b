//! "Did you mean" suggestions: the known name closest to a misspelt one, by edit distance
//! (the `strsim` crate), and the one way an unknown key is reported. It suggests only names
//! close enough to be a likely typo; it never picks one for the user.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The message for a key that `names` does not hold: the closest name, or all of them.
pub fn unknown_key(key: &str, names: &[&str]) -> String {
    match closest(key, names) {
        Some(best) => format!("unknown key `{key}`, did you mean `{best}`?"),
        None => format!(
            "unknown key `{key}`, expected one of {}",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(closest("alow", &["allow", "deny"]), Some("allow"));
        assert_eq!(closest("containers.lst", &["containers.list", "images.list"]), Some("containers.list"));
        assert_eq!(closest("xyzzy", &["allow", "deny"]), None);
        assert_eq!(unknown_key("idd", &["id", "name"]), "unknown key `idd`, did you mean `id`?");
        assert_eq!(unknown_key("zzzzz", &["id", "name"]), "unknown key `zzzzz`, expected one of `id`, `name`");
    }
}
