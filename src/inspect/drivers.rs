//! Driver names a request makes the engine look up: volume, network, IPAM and log drivers.
//!
//! A name the engine has not built in is a plugin lookup, and the legacy lookup
//! (`pkg/plugins/discovery.go`, `localRegistry.Plugin`) joins the name onto `/run/docker/plugins`,
//! `/etc/docker/plugins` and `/usr/lib/docker/plugins` and activates whatever socket or spec file
//! it finds there. A name with `../` therefore points at any file on the host, such as a spec file
//! that a container wrote into its own named volume, and the "plugin" it names then serves the
//! engine's mounts. So a name is refused outright unless it is a plain plugin name, and every name
//! becomes a finding that the policy's allow-list for its kind judges. It decides nothing.

use std::fmt;

use super::{Finding, InspectError, Kind};

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

/// The finding for a driver named in `field`, or `None` when the field is empty or names the
/// engine's default, which it uses anyway (the daemon's configured log driver is the operator's
/// choice, so every named log driver is a finding). A name that is not a plain plugin name is
/// refused whatever the policy says.
pub fn driver(kind: DriverKind, field: &str, name: &str) -> Result<Option<Finding>, InspectError> {
    if name.is_empty() {
        return Ok(None);
    }
    check_driver_name(name).map_err(|e| InspectError::Invalid(format!("{field}: {e}")))?;
    if name == kind.default_name() {
        return Ok(None);
    }
    Ok(Some(Finding::new(Kind::Driver(kind), field, name, format!("names {kind} driver `{name}`"))))
}

/// Pushes the finding for a driver, if one is named.
pub fn push(findings: &mut Vec<Finding>, kind: DriverKind, field: &str, name: &str) -> Result<(), InspectError> {
    if let Some(finding) = driver(kind, field, name)? {
        findings.push(finding);
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

    #[test]
    fn an_empty_name_is_the_engines_default() -> Result<(), InspectError> {
        assert_eq!(driver(DriverKind::Volume, "Driver", "")?, None);
        assert_eq!(driver(DriverKind::Volume, "Driver", "local")?, None);
        assert!(driver(DriverKind::Volume, "Driver", "Local")?.is_some(), "the engine compares names exactly");
        assert!(driver(DriverKind::Log, "HostConfig.LogConfig.Type", "json-file")?.is_some());
        let found = driver(DriverKind::Log, "HostConfig.LogConfig.Type", "syslog")?;
        assert_eq!(
            found.map(|f| f.to_string()).as_deref(),
            Some("HostConfig.LogConfig.Type names log driver `syslog`")
        );
        assert!(driver(DriverKind::Network, "Driver", "../x").is_err());
        Ok(())
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
