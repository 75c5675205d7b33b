//! Driver names a request makes the engine look up: volume, network, IPAM and log drivers.
//!
//! A name the engine has not built in is a plugin lookup, and the legacy lookup
//! (`pkg/plugins/discovery.go`, `localRegistry.Plugin`) joins the name onto `/run/docker/plugins`,
//! `/etc/docker/plugins` and `/usr/lib/docker/plugins` and activates whatever socket or spec file
//! it finds there. A name with `../` therefore points at any file on the host, such as a spec file
//! that a container wrote into its own named volume, and the "plugin" it names then serves the
//! engine's mounts. So a name is refused outright unless it is a plain plugin name, and every name
//! becomes a finding that the policy's allow-list for its kind judges. It decides nothing.

use super::{Finding, InspectError, Kind};

pub use crate::naming::driver::{check_driver_name, DriverKind};

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
}
