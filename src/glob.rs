//! Glob matching for the names policies and profiles match on: operation names
//! (`containers.*`), container names, image references, runtimes. `*` matches any run of
//! characters, dots and slashes included; there are no other wildcards and no escapes, so a
//! pattern means what it looks like. It matches; it does not decide what a match means.

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn matches(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let Some((last, middle)) = parts.split_last() else {
        return true;
    };
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", "containers.create"));
        assert!(matches("containers.*", "containers.archive.get"));
        assert!(!matches("containers.*", "exec.create"));
        assert!(matches("*.list", "images.list"));
        assert!(matches("c*s.*t*", "containers.list"));
        assert!(matches("session", "session"));
        assert!(!matches("session", "sessions"));
        assert!(!matches("a*a", "a"));
    }
}
