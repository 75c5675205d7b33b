//! IP networks such as `10.0.0.0/8` or `::1/128`, on the `ipnet` crate: how a listener's or a
//! profile's network is written and whether an address lies in it. It knows nothing of who is
//! allowed: the listener and the profiles decide what a match means.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// An IP network such as `10.0.0.0/8` or `::1/128`; an address without a prefix is the network of
/// that one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// The address as written, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.0.addr()
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether `ip` lies in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // A network of one family never contains an address of the other.
        self.0.contains(&ip)
    }
}

impl From<IpNet> for Cidr {
    fn from(network: IpNet) -> Cidr {
        Cidr(network)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an IP network such as 10.0.0.0/8"))?;
        let invalid = || format!("`{s}` has an invalid prefix length");
        let net = match prefix {
            None => IpNet::from(addr),
            Some(p) => IpNet::new(addr, p.parse::<u8>().map_err(|_| invalid())?).map_err(|_| invalid())?,
        };
        Ok(Cidr(net))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!("{s}"))
    }

    #[test]
    fn cidrs() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        let one: Cidr = "::1".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(one.prefix(), 128);
        assert!(one.contains(ip("::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(all.contains(ip("192.0.2.1")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("host/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn keeps_what_was_written_and_never_mixes_families() {
        let net: Cidr = "10.1.2.3/8".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(net.to_string(), "10.1.2.3/8");
        assert_eq!(net.addr(), ip("10.1.2.3"));
        assert!(net.contains(ip("10.200.0.1")));
        let v6: Cidr = "::/0".parse().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!v6.contains(ip("192.0.2.1")));
        assert!(!v6.contains(ip("::ffff:192.0.2.1")));
        assert!(v6.contains(ip("2001:db8::1")));
        assert_eq!("::1".parse::<Cidr>().map(|c| c.to_string()), Ok("::1/128".to_string()));
    }
}
