//! Where the engine's networks hand out container addresses, read from `GET /networks`, so an
//! address no network could hand out is known to be no container's without listing them all. It
//! answers "maybe" whenever a network does not state its range; it never names a container.

use std::net::IpAddr;

use super::DiscoveryError;
use crate::address::Cidr;
use crate::engine::network::Network;

/// The address ranges of the engine's networks.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Ranges {
    subnets: Vec<Cidr>,
    gateways: Vec<IpAddr>,
    /// False when a network's range is not stated (no subnet, or one that does not parse).
    complete: bool,
}

impl Ranges {
    /// Whether a container could hold `ip`: inside a subnet and not its gateway (the host's side).
    pub(super) fn may_hold(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.complete || (self.subnets.iter().any(|net| net.contains(ip)) && !self.gateways.contains(&ip))
    }
}

/// The answer to `GET /networks`. The `host` and `null` drivers hand out no addresses of their own.
pub(super) fn parse_networks(body: &[u8]) -> Result<Ranges, DiscoveryError> {
    let networks: Vec<Network> = serde_json::from_slice(body)?;
    let mut ranges = Ranges { subnets: Vec::new(), gateways: Vec::new(), complete: true };
    for network in networks {
        if matches!(network.driver.as_deref(), Some("host" | "null")) {
            continue;
        }
        let configs = network.ipam.and_then(|ipam| ipam.config).unwrap_or_default();
        if configs.is_empty() {
            ranges.complete = false;
        }
        for config in configs {
            match config.subnet.as_deref().map(str::parse::<Cidr>) {
                Some(Ok(subnet)) => ranges.subnets.push(subnet),
                _ => ranges.complete = false,
            }
            if let Some(gateway) = config.gateway.and_then(|g| g.parse::<IpAddr>().ok()) {
                ranges.gateways.push(gateway.to_canonical());
            }
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::super::testing::ip;
    use super::*;

    #[test]
    fn knows_where_networks_hand_out_addresses() {
        // As dockerd 20.10 lists the default networks and a user network with IPv6.
        let body = r#"[
            {"Name":"bridge","Driver":"bridge","IPAM":{"Driver":"default","Options":null,
              "Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]}},
            {"Name":"host","Driver":"host","IPAM":{"Driver":"default","Options":null,"Config":[]}},
            {"Name":"none","Driver":"null","IPAM":{"Driver":"default","Options":null,"Config":[]}},
            {"Name":"ci","Driver":"bridge","IPAM":{"Driver":"default","Options":{},
              "Config":[{"Subnet":"172.28.0.0/16","Gateway":"172.28.0.1"},{"Subnet":"fd00:5a::/64"}]}}]"#;
        let ranges = parse_networks(body.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(ranges.complete);
        for inside in ["172.17.0.2", "172.28.5.9", "fd00:5a::3", "::ffff:172.17.0.2"] {
            assert!(ranges.may_hold(ip(inside)), "{inside}");
        }
        for outside in ["172.17.0.1", "::ffff:172.28.0.1", "10.0.0.7", "192.168.1.20", "fd00:5b::3"] {
            assert!(!ranges.may_hold(ip(outside)), "{outside}");
        }
        // A network whose range the engine does not state could hold any address.
        let unstated = r#"[{"Name":"x","Driver":"macvlan","IPAM":{"Config":[]}}]"#;
        let ranges = parse_networks(unstated.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(ranges.may_hold(ip("10.0.0.7")));
        let odd = r#"[{"Name":"x","Driver":"bridge","IPAM":{"Config":[{"Subnet":"not a subnet"}]}}]"#;
        assert!(parse_networks(odd.as_bytes()).is_ok_and(|r| r.may_hold(ip("10.0.0.7"))));
        assert!(parse_networks(b"{}").is_err());
    }
}
