//! The client's IP: the socket peer, unless the peer is a trusted proxy, in which
//! case the nearest untrusted address in `X-Forwarded-For`.

use std::net::IpAddr;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(raw: &str) -> Result<Self, String> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| format!("`{raw}` is not an IP address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{raw}` has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Comma-separated IPs and CIDRs; empty means none.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Cidr::parse).collect::<Result<_, _>>().map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client address for a request that arrived from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect();
        // Walk from the nearest hop outwards; the first address we do not trust is
        // the client (anything further left could be forged by it).
        hops.into_iter().rev().map(canonical).find(|ip| !self.trusts(*ip)).unwrap_or(canonical(peer))
    }

    pub fn for_request(&self, req: &ServiceRequest) -> Option<IpAddr> {
        req.peer_addr().map(|peer| self.client_ip(peer.ip(), req.headers()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn untrusted_peers_are_the_client() {
        let none = TrustedProxies::default();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(none.client_ip(peer, &xff("1.2.3.4")), peer);
    }

    #[test]
    fn trusted_proxies_are_skipped() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            t.client_ip(peer, &xff("6.6.6.6, 198.51.100.7, 10.1.2.3")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(t.client_ip(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn parsing() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("nonsense").is_err());
        assert!(TrustedProxies::parse("::1, fd00::/8").is_ok());
        let mapped = TrustedProxies::parse("127.0.0.1").unwrap();
        assert!(mapped.trusts("::ffff:127.0.0.1".parse().unwrap()));
    }
}
