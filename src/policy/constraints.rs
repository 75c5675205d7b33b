//! The `[containers]` table of a policy: what a container, exec, service, volume, plugin or build
//! may ask of the host. Every constraint has a safe default, used when the table or the key is
//! absent, so allowing `containers.create` never silently allows `--privileged`.

use serde::Deserialize;
use toml::Spanned;

use crate::inspect::Kind;
use crate::naming::image;
pub use crate::naming::{check_driver_name, DriverKind};

/// Docker's default capability set (`oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The engine's own volume driver: the only one that needs no plugin lookup.
pub const DEFAULT_VOLUME_DRIVERS: &[&str] = &["local"];
/// The engine's built-in network drivers (libnetwork registers them at start; any other name is a
/// plugin lookup). `host` is not here: the engine allows one host network, its own.
pub const DEFAULT_NETWORK_DRIVERS: &[&str] = &["bridge", "overlay", "macvlan", "ipvlan", "null"];
/// The engine's built-in IPAM driver.
pub const DEFAULT_IPAM_DRIVERS: &[&str] = &["default"];
/// Log drivers that write on the host itself. The others (`syslog`, `gelf`, `fluentd`, `splunk`,
/// `awslogs`, `gcplogs`, `logentries`) make the engine dial an address the client picks, and any
/// name the engine does not know is a plugin lookup: both only by name in a policy.
pub const DEFAULT_LOG_DRIVERS: &[&str] = &["json-file", "local", "journald", "none"];

/// Checked constraints. A `None` list means "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    pub privileged: bool,
    pub host_mounts: Option<Vec<String>>,
    pub host_mounts_read_only: bool,
    pub devices: bool,
    pub capabilities: Option<Vec<String>>,
    pub unconfined: bool,
    pub host_namespaces: bool,
    pub sysctls: bool,
    pub runtimes: Option<Vec<String>>,
    pub cgroup_parent: bool,
    pub volumes_from: bool,
    pub exec_root: bool,
    /// Normalized image patterns.
    pub images: Option<Vec<String>>,
    pub build_host_network: bool,
    /// Driver names allowed by kind, compared exactly as the engine's registries compare them.
    pub volume_drivers: Vec<String>,
    pub network_drivers: Vec<String>,
    pub ipam_drivers: Vec<String>,
    pub log_drivers: Vec<String>,
}

impl Constraints {
    /// The driver names allowed for `kind`.
    pub fn drivers(&self, kind: DriverKind) -> &[String] {
        match kind {
            DriverKind::Volume => &self.volume_drivers,
            DriverKind::Network => &self.network_drivers,
            DriverKind::Ipam => &self.ipam_drivers,
            DriverKind::Log => &self.log_drivers,
        }
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_string()).collect()
}

impl Default for Constraints {
    fn default() -> Constraints {
        Constraints {
            privileged: false,
            host_mounts: Some(Vec::new()),
            host_mounts_read_only: false,
            devices: false,
            capabilities: Some(DEFAULT_CAPABILITIES.iter().map(|c| (*c).to_string()).collect()),
            unconfined: false,
            host_namespaces: false,
            sysctls: false,
            runtimes: Some(vec!["runc".to_string()]),
            cgroup_parent: false,
            volumes_from: false,
            exec_root: true,
            images: None,
            build_host_network: false,
            volume_drivers: owned(DEFAULT_VOLUME_DRIVERS),
            network_drivers: owned(DEFAULT_NETWORK_DRIVERS),
            ipam_drivers: owned(DEFAULT_IPAM_DRIVERS),
            log_drivers: owned(DEFAULT_LOG_DRIVERS),
        }
    }
}

/// `[containers]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConstraints {
    privileged: Option<bool>,
    host_mounts: Option<Vec<Spanned<String>>>,
    host_mounts_read_only: Option<bool>,
    devices: Option<bool>,
    capabilities: Option<Vec<Spanned<String>>>,
    unconfined: Option<bool>,
    host_namespaces: Option<bool>,
    sysctls: Option<bool>,
    runtimes: Option<Vec<String>>,
    cgroup_parent: Option<bool>,
    volumes_from: Option<bool>,
    exec_root: Option<bool>,
    images: Option<Vec<Spanned<String>>>,
    build_host_network: Option<bool>,
    volume_drivers: Option<Vec<Spanned<String>>>,
    network_drivers: Option<Vec<Spanned<String>>>,
    ipam_drivers: Option<Vec<Spanned<String>>>,
    log_drivers: Option<Vec<Spanned<String>>>,
}

/// The keys of `[containers]`.
pub(super) const KEYS: &[(&str, crate::diagnostics::keys::Shape)] = &[
    ("privileged", crate::diagnostics::keys::Shape::Value),
    ("host_mounts", crate::diagnostics::keys::Shape::Value),
    ("host_mounts_read_only", crate::diagnostics::keys::Shape::Value),
    ("devices", crate::diagnostics::keys::Shape::Value),
    ("capabilities", crate::diagnostics::keys::Shape::Value),
    ("unconfined", crate::diagnostics::keys::Shape::Value),
    ("host_namespaces", crate::diagnostics::keys::Shape::Value),
    ("sysctls", crate::diagnostics::keys::Shape::Value),
    ("runtimes", crate::diagnostics::keys::Shape::Value),
    ("cgroup_parent", crate::diagnostics::keys::Shape::Value),
    ("volumes_from", crate::diagnostics::keys::Shape::Value),
    ("exec_root", crate::diagnostics::keys::Shape::Value),
    ("images", crate::diagnostics::keys::Shape::Value),
    ("build_host_network", crate::diagnostics::keys::Shape::Value),
    ("volume_drivers", crate::diagnostics::keys::Shape::Value),
    ("network_drivers", crate::diagnostics::keys::Shape::Value),
    ("ipam_drivers", crate::diagnostics::keys::Shape::Value),
    ("log_drivers", crate::diagnostics::keys::Shape::Value),
];

impl RawConstraints {
    /// Checks values, reporting `(byte offset, message)` for each problem.
    pub(super) fn check(self) -> Result<Constraints, Vec<(usize, String)>> {
        let mut errors = Vec::new();
        let defaults = Constraints::default();
        let host_mounts = self.host_mounts.map(|paths| {
            paths
                .into_iter()
                .filter_map(|p| {
                    let span = p.span().start;
                    let path = p.into_inner();
                    if path.starts_with('/') {
                        Some(crate::naming::clean_path(&path))
                    } else {
                        errors.push((span, format!("host mount `{path}` must be an absolute path")));
                        None
                    }
                })
                .collect()
        });
        let capabilities = self.capabilities.map(|caps| {
            caps.into_iter()
                .map(|c| {
                    let upper = c.get_ref().to_ascii_uppercase();
                    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
                })
                .collect()
        });
        let images = self.images.map(|patterns| {
            patterns
                .into_iter()
                .filter_map(|p| {
                    if p.get_ref().trim().is_empty() {
                        errors.push((p.span().start, "empty image pattern".to_string()));
                        None
                    } else {
                        Some(image::normalize_pattern(p.get_ref()))
                    }
                })
                .collect()
        });
        let mut drivers = |names: Option<Vec<Spanned<String>>>, default: Vec<String>| -> Vec<String> {
            let Some(names) = names else { return default };
            names
                .into_iter()
                .filter_map(|n| {
                    let span = n.span().start;
                    let name = n.into_inner();
                    match check_driver_name(&name) {
                        Ok(()) => Some(name),
                        Err(e) => {
                            errors.push((span, e));
                            None
                        }
                    }
                })
                .collect()
        };
        let volume_drivers = drivers(self.volume_drivers, defaults.volume_drivers);
        let network_drivers = drivers(self.network_drivers, defaults.network_drivers);
        let ipam_drivers = drivers(self.ipam_drivers, defaults.ipam_drivers);
        let log_drivers = drivers(self.log_drivers, defaults.log_drivers);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Constraints {
            volume_drivers,
            network_drivers,
            ipam_drivers,
            log_drivers,
            privileged: self.privileged.unwrap_or(defaults.privileged),
            host_mounts: host_mounts.or(defaults.host_mounts),
            host_mounts_read_only: self.host_mounts_read_only.unwrap_or(defaults.host_mounts_read_only),
            devices: self.devices.unwrap_or(defaults.devices),
            capabilities: capabilities.or(defaults.capabilities),
            unconfined: self.unconfined.unwrap_or(defaults.unconfined),
            host_namespaces: self.host_namespaces.unwrap_or(defaults.host_namespaces),
            sysctls: self.sysctls.unwrap_or(defaults.sysctls),
            runtimes: self.runtimes.or(defaults.runtimes),
            cgroup_parent: self.cgroup_parent.unwrap_or(defaults.cgroup_parent),
            volumes_from: self.volumes_from.unwrap_or(defaults.volumes_from),
            exec_root: self.exec_root.unwrap_or(defaults.exec_root),
            images: images.or(defaults.images),
            build_host_network: self.build_host_network.unwrap_or(defaults.build_host_network),
        })
    }
}

/// The `[containers]` keys that are plain switches, in the order a policy lists them.
pub const FLAGS: &[&str] = &[
    "privileged",
    "devices",
    "unconfined",
    "host_namespaces",
    "sysctls",
    "cgroup_parent",
    "volumes_from",
    "exec_root",
    "build_host_network",
];

/// The switch among [`FLAGS`] that a finding of this kind needs turned on, if a switch judges it
/// (host mounts, capabilities, runtimes, images and drivers are judged by lists instead). Both the
/// decision and the learned policy read findings through this one mapping.
pub fn flag(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Privileged => "privileged",
        Kind::Device => "devices",
        Kind::Unconfined => "unconfined",
        Kind::Namespace => "host_namespaces",
        Kind::Sysctl => "sysctls",
        Kind::CgroupParent => "cgroup_parent",
        Kind::VolumesFrom => "volumes_from",
        Kind::ExecRoot => "exec_root",
        Kind::BuildHostNetwork => "build_host_network",
        Kind::HostMount { .. }
        | Kind::Capability
        | Kind::Runtime
        | Kind::Image
        | Kind::Driver(_)
        | Kind::Name
        | Kind::Labels => return None,
    })
}

impl Constraints {
    /// Whether the switch `key` (one of [`FLAGS`]) is on.
    pub fn flag(&self, key: &str) -> bool {
        match key {
            "privileged" => self.privileged,
            "devices" => self.devices,
            "unconfined" => self.unconfined,
            "host_namespaces" => self.host_namespaces,
            "sysctls" => self.sysctls,
            "cgroup_parent" => self.cgroup_parent,
            "volumes_from" => self.volumes_from,
            "exec_root" => self.exec_root,
            "build_host_network" => self.build_host_network,
            _ => false,
        }
    }
}

/// Whether `path` is `prefix` or lies below it, comparing whole path components.
pub fn under(path: &str, prefix: &str) -> bool {
    prefix == "/" || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_a_finding_needs_is_a_key_the_decision_checks() {
        let kinds = [
            Kind::Privileged,
            Kind::Device,
            Kind::Unconfined,
            Kind::Namespace,
            Kind::Sysctl,
            Kind::CgroupParent,
            Kind::VolumesFrom,
            Kind::ExecRoot,
            Kind::BuildHostNetwork,
        ];
        let closed = Constraints::default();
        for kind in kinds {
            let key = flag(kind).unwrap_or_else(|| unreachable!("{kind:?} has no switch"));
            assert!(FLAGS.contains(&key) && KEYS.iter().any(|(k, _)| *k == key), "{key}");
            let finding =
                crate::inspect::Finding { kind, field: String::new(), value: "x".into(), says: String::new() };
            assert_eq!(crate::decide::violated(&closed, &finding), (!closed.flag(key)).then_some(key), "{key}");
        }
        assert_eq!(flag(Kind::Capability), None);
    }

    #[test]
    fn prefixes_compare_whole_components() {
        assert!(under("/srv/cache", "/srv/cache"));
        assert!(under("/srv/cache/x", "/srv/cache"));
        assert!(!under("/srv/cache2", "/srv/cache"));
        assert!(!under("/srv", "/srv/cache"));
        assert!(under("/etc", "/"));
        assert_eq!(crate::naming::clean_path("/srv/./cache/../cache//x/"), "/srv/cache/x");
    }
}
