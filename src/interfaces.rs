//! The networks sockgate's own interfaces are on, read once at start: inside a container these are
//! the container networks it is attached to (and loopback), which is what a drop-in TCP listener
//! accepts plain connections from. It reads addresses only; it never changes an interface.

use std::net::IpAddr;

use ipnet::IpNet;
use nix::ifaddrs::getifaddrs;
use nix::sys::socket::SockaddrStorage;

/// Every network an interface of this network namespace has an address in, loopback included,
/// without duplicates, in the order the kernel lists them.
pub fn attached_networks() -> Result<Vec<IpNet>, nix::Error> {
    let mut networks: Vec<IpNet> = Vec::new();
    for interface in getifaddrs()? {
        let (Some(address), Some(netmask)) = (interface.address, interface.netmask) else { continue };
        let (Some(address), Some(netmask)) = (ip(&address), ip(&netmask)) else { continue };
        let Ok(network) = IpNet::with_netmask(address, netmask) else { continue };
        let network = network.trunc();
        if !networks.contains(&network) {
            networks.push(network);
        }
    }
    Ok(networks)
}

fn ip(address: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_among_the_attached_networks() {
        let networks = attached_networks().unwrap_or_default();
        let loopback: IpNet = "127.0.0.0/8".parse().unwrap_or_else(|_| unreachable!());
        assert!(networks.contains(&loopback), "{networks:?}");
        // Every network is truncated to its prefix, so an address of the network is inside it.
        assert!(networks.iter().all(|n| n.trunc() == *n), "{networks:?}");
    }
}
