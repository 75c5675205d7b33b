//! Go's `path.Clean` for the absolute host paths a request names (binds, checkpoint directories,
//! volume devices), so a policy compares the path the engine will use. It touches no file system.

/// Go's `path.Clean` for absolute paths; a relative path is returned as it is.
pub fn clean_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let mut stack: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    format!("/{}", stack.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_clean_as_go_cleans_them() {
        assert_eq!(clean_path("/srv/./cache/../cache//x/"), "/srv/cache/x");
        assert_eq!(clean_path("/../.."), "/");
        assert_eq!(clean_path("relative/../x"), "relative/../x");
    }
}
