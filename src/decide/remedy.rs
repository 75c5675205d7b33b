//! What a policy would have to say to allow what its `[containers]` constraints denied: the key
//! and value (`privileged = true`, `"NET_ADMIN"` in `capabilities`) and the file to write them
//! in, so a denied client can tell its operator the one change to make. It suggests; it changes
//! no policy and decides nothing.

/// The setting of constraint `key` that would allow a finding whose value is `value`.
pub fn setting(key: &str, value: &str) -> String {
    match key {
        "host_mounts_read_only" => "`host_mounts_read_only = false`".to_string(),
        "host_mounts" | "capabilities" | "runtimes" | "images" => listed(key, value),
        key if key.ends_with("_drivers") => listed(key, value),
        key => format!("`{key} = true`"),
    }
}

/// `value` as a TOML string among the list `key` (a JSON string is a valid TOML basic string).
fn listed(key: &str, value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""));
    format!("`{quoted}` in `{key}`")
}

/// The hint: the settings, under `[containers]` in `file` (the policy file that has the table,
/// or would have it); a built-in policy is changed in a copy.
pub fn hint(settings: &[String], file: &str) -> String {
    let place =
        if file.starts_with(crate::policy::BUILTIN_PREFIX) { format!("a copy of {file}") } else { file.to_string() };
    format!("{} under [containers] in {place} would allow it", settings.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constraint_names_its_key() {
        assert_eq!(setting("privileged", "true"), "`privileged = true`");
        assert_eq!(setting("host_namespaces", "host"), "`host_namespaces = true`");
        assert_eq!(setting("host_mounts_read_only", "/srv"), "`host_mounts_read_only = false`");
        assert_eq!(setting("capabilities", "NET_ADMIN"), "`\"NET_ADMIN\"` in `capabilities`");
        assert_eq!(setting("host_mounts", "/etc"), "`\"/etc\"` in `host_mounts`");
        assert_eq!(setting("log_drivers", "gelf"), "`\"gelf\"` in `log_drivers`");
        assert_eq!(setting("images", "a\"b"), "`\"a\\\"b\"` in `images`");
        let two = [setting("privileged", ""), setting("devices", "")];
        assert_eq!(
            hint(&two, "policies/ci.toml"),
            "`privileged = true` and `devices = true` under [containers] in policies/ci.toml would allow it"
        );
        assert_eq!(
            hint(&two[..1], "builtin:ci"),
            "`privileged = true` under [containers] in a copy of builtin:ci would allow it"
        );
    }
}
