//! Capabilities, namespace modes and security options, normalized as dockerd normalizes them.
//! It finds what loosens the engine's confinement; it decides nothing.

use super::super::{Finding, Kind};

/// An added capability, named as dockerd normalizes it: upper case, without `CAP_`. dockerd
/// upper-cases with Go's `strings.ToUpper` (`oci/caps` `NormalizeLegacyCapabilities`), which maps
/// each character by its simple Unicode mapping, so `ſys_admin` is `SYS_ADMIN` and `net_admın`
/// (dotless i) is `NET_ADMIN`.
pub(in crate::inspect) fn capability(field: &str, cap: &str) -> Finding {
    let upper: String = cap
        .chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(one), None) => one,
                // A special casing (`ß` to `SS`); Go's simple mapping leaves the character.
                _ => c,
            }
        })
        .collect();
    let name = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
    Finding::new(Kind::Capability, field, &name, format!("adds capability `{name}`"))
}

/// A namespace mode that shares the host's or another container's namespace.
pub(in crate::inspect) fn namespace(field: &str, kind: &str, mode: &str) -> Option<Finding> {
    let lower = mode.to_ascii_lowercase();
    let says = if lower == "host" {
        format!("uses the host's {kind} namespace")
    } else if lower.starts_with("container:") {
        format!("joins the {kind} namespace of `{}`", &mode["container:".len()..])
    } else {
        return None;
    };
    Some(Finding::new(Kind::Namespace, field, mode, says))
}

/// What a security option turns off, as dockerd's `parseSecurityOpt` reads it: bare `disable`
/// (an SELinux label option), `key=value`, or the legacy `key:value`; booleans as Go's
/// `strconv.ParseBool` reads them.
pub(in crate::inspect) fn unconfining_security_opt(opt: &str) -> Option<String> {
    if opt == "disable" {
        return Some("disables SELinux labels".into());
    }
    if opt.eq_ignore_ascii_case("writable-cgroups") {
        return Some("makes cgroups writable".into());
    }
    let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':'))?;
    let key = key.to_ascii_lowercase();
    let value_lower = value.to_ascii_lowercase();
    let go_true = matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True");
    let go_false = matches!(value, "0" | "f" | "F" | "FALSE" | "false" | "False");
    match key.as_str() {
        // The daemon's `no-new-privileges` default is a hardening the operator chose.
        "no-new-privileges" if go_false => Some("turns off no-new-privileges".into()),
        // Any loaded AppArmor profile other than the engine's own may confine less.
        "apparmor" if !value.is_empty() && value != "docker-default" && value_lower != "unconfined" => {
            Some(format!("sets AppArmor profile `{value}` instead of the engine's"))
        }
        "writable-cgroups" if go_true => Some("makes cgroups writable".into()),
        "seccomp" if value_lower == "unconfined" => Some("disables seccomp".into()),
        "seccomp" if value_lower != "builtin" && value_lower != "default" => {
            Some("sets a custom seccomp profile".into())
        }
        "apparmor" if value_lower == "unconfined" => Some("disables AppArmor".into()),
        "label" if value_lower == "disable" => Some("disables SELinux labels".into()),
        "label" if value_lower.starts_with("type:") => Some("sets a custom SELinux type".into()),
        "systempaths" if value_lower == "unconfined" => Some("unmasks kernel paths".into()),
        _ => None,
    }
}
