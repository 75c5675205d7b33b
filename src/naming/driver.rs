//! Plain driver and plugin names, as sockgate requires them: the engine's legacy plugin lookup
//! (`pkg/plugins/discovery.go`, `localRegistry.Plugin`) joins a name onto the plugin directories
//! and activates whatever it finds there, so a name with `/` or `..` points anywhere on the host.
//! This module says which names are plain and what each kind of driver defaults to; it finds
//! nothing in requests and decides nothing.

use std::fmt;

/// What a driver drives, and so which allow-list judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriverKind {
    Volume,
    Network,
    Ipam,
    Log,
}

impl DriverKind {
    /// The `[containers]` key that lists the allowed names.
    pub fn key(self) -> &'static str {
        match self {
            DriverKind::Volume => "volume_drivers",
            DriverKind::Network => "network_drivers",
            DriverKind::Ipam => "ipam_drivers",
            DriverKind::Log => "log_drivers",
        }
    }

    /// What the engine uses when the request names none.
    pub fn default_name(self) -> &'static str {
        match self {
            DriverKind::Volume => "local",
            DriverKind::Network => "bridge",
            DriverKind::Ipam => "default",
            // The daemon's configured `log-driver`: the operator's choice, not the client's.
            DriverKind::Log => "",
        }
    }
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Volume => "volume",
            DriverKind::Network => "network",
            DriverKind::Ipam => "IPAM",
            DriverKind::Log => "log",
        })
    }
}

/// The longest driver name accepted; plugin names are short.
const MAX_NAME: usize = 128;

/// Whether `name` is a plain plugin name: `[A-Za-z0-9][A-Za-z0-9_.:-]*`, without `..`. No `/` or
/// `\`, so it cannot leave the plugin directories, and no namespace: a managed plugin such as
/// `vieux/sshfs` is used through sockgate by an alias (`docker plugin install --alias sshfs`).
pub fn check_driver_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let plain = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if !plain || name.contains("..") || name.len() > MAX_NAME {
        return Err(format!(
            "driver name `{}` is not a plain plugin name (letters, digits, `_`, `.`, `:` and `-`, \
             no `/` and no `..`)",
            name.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_names_pass_and_paths_do_not() {
        for ok in ["local", "json-file", "sshfs:latest", "rexray_ebs", "flocker.1", "A1"] {
            assert!(check_driver_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../../var/lib/docker/volumes/x/_data/evil",
            "..",
            "a..b",
            "vieux/sshfs",
            "a\\b",
            "/etc/docker/plugins/x",
            ".hidden",
            "-x",
            "a b",
            "a\u{0}",
            "é",
            &"a".repeat(129),
        ] {
            assert!(check_driver_name(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// No accepted name can leave a directory it is joined onto.
        #[test]
        fn accepted_names_stay_in_their_directory(name in "\\PC{0,40}") {
            if check_driver_name(&name).is_ok() {
                prop_assert!(!name.contains('/') && !name.contains('\\') && !name.contains(".."));
                let joined = std::path::Path::new("/run/docker/plugins").join(format!("{name}.sock"));
                prop_assert_eq!(joined.parent(), Some(std::path::Path::new("/run/docker/plugins")));
            }
        }
    }
}
