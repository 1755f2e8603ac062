//! Outbound requests to user-chosen URLs (the `http.request` workflow, callbacks)
//! must not reach the host's private network or the cloud metadata service.
//!
//! Anti-rebinding: the check and the connection use the same DNS answer, because
//! the guarded client resolves names through [`GuardedResolver`], which refuses a
//! name if any of its addresses is forbidden and otherwise hands exactly the checked
//! addresses to the connector. IP-literal URLs never reach a resolver, so they are
//! checked up front ([`TargetPolicy::check_literal`]) and again on every redirect.
//! Proxies are disabled on the guarded client, since a proxy would resolve the name
//! itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// At most this many redirects are followed, each re-checked.
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the target address {addr} is not allowed ({reason})")]
    Forbidden { addr: IpAddr, reason: &'static str },
    #[error("the host could not be resolved: {0}")]
    Resolve(String),
    #[error("the host has no addresses")]
    NoAddresses,
}

/// Why a redirect is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
    /// The source is the [`SsrfError`], so [`find_ssrf_error`] finds it in a
    /// client error's chain.
    #[error("redirect refused")]
    Target(#[source] SsrfError),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Let requests reach private, loopback and link-local addresses
    /// (`LEVQOR_ALLOW_PRIVATE_TARGETS`; for tests and trusted deployments).
    pub allow_private: bool,
}

impl TargetPolicy {
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfError> {
        match forbidden_reason(ip) {
            Some(reason) if !self.allow_private => Err(SsrfError::Forbidden { addr: ip, reason }),
            _ => Ok(()),
        }
    }

    /// The checks that need no DNS: the scheme, and the host if it is an IP literal.
    pub fn check_literal(&self, url: &Url) -> Result<(), SsrfError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::Scheme);
        }
        match url.host() {
            None => Err(SsrfError::NoHost),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => Ok(()),
        }
    }

    /// Whether to follow a redirect to `next` after `hops` redirects: at most
    /// [`MAX_REDIRECTS`], and every hop's target checked again (an IP literal here;
    /// a name by the guarded resolver when the hop connects).
    pub fn check_redirect(&self, hops: usize, next: &Url) -> Result<(), RedirectError> {
        if hops >= MAX_REDIRECTS {
            return Err(RedirectError::TooMany);
        }
        self.check_literal(next).map_err(RedirectError::Target)
    }

    /// The full check: scheme, then every address the host resolves to. Returns the
    /// checked addresses.
    pub async fn check_url(&self, url: &Url) -> Result<Vec<SocketAddr>, SsrfError> {
        self.check_literal(url)?;
        let port = url.port_or_known_default().unwrap_or(80);
        match url.host() {
            Some(Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
            Some(Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
            Some(Host::Domain(name)) => self.resolve(name, port).await,
            None => Err(SsrfError::NoHost),
        }
    }

    /// Resolves `host` and refuses it if any address is forbidden (one bad address
    /// is enough: the connector might pick it).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|e| SsrfError::Resolve(e.to_string()))?.collect();
        if addrs.is_empty() {
            return Err(SsrfError::NoAddresses);
        }
        for addr in &addrs {
            self.check_ip(addr.ip())?;
        }
        Ok(addrs)
    }

    /// An HTTP client that only ever connects to addresses this policy allows.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
        let policy = *self;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            match policy.check_redirect(attempt.previous().len(), attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy)))
            .redirect(redirects)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
    }
}

/// A DNS resolver for reqwest that applies a [`TargetPolicy`].
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver(pub TargetPolicy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            // The connector sets the real port; 0 is a placeholder.
            let addrs = policy.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The [`SsrfError`] somewhere in a client error's source chain, if the request
/// was refused by the guard rather than failed on the network.
pub fn find_ssrf_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a SsrfError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<SsrfError>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Why a request to `ip` is refused, or `None` for a globally routable unicast
/// address. The blocks come from IANA's IPv4 and IPv6 Special-Purpose Address
/// Registries ([`special_purpose`]): an address is allowed only when no block
/// holds it or its most specific block is "globally reachable"; and, on IPv6, only
/// inside global unicast (`2000::/3`). Forms that carry an IPv4 address inside an
/// IPv6 one are refused whole (the guard cannot know what a translator or relay
/// reaches), except IPv4-mapped `::ffff:a.b.c.d`, which is the IPv4 address
/// itself and is judged as such.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_multicast() {
        return Some("multicast");
    }
    special_purpose::v4(ip).filter(|block| !block.global).map(|block| block.name)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    if ip.is_multicast() {
        return Some("multicast");
    }
    match special_purpose::v6(ip) {
        Some(block) if block.global => None,
        Some(block) => Some(block.name),
        // Outside 2000::/3 nothing is global unicast today (`::/8` holds the
        // deprecated IPv4-compatible form, `fec0::/10` the old site-local one).
        None if ip.segments()[0] & 0xe000 != 0x2000 => Some("not global unicast"),
        None => None,
    }
}

/// IANA's special-purpose address registries, as tables (registry snapshot of
/// 2025; "N/A" entries count as not globally reachable). The most specific block
/// that holds an address decides.
pub mod special_purpose {
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Block {
        pub name: &'static str,
        /// The registry's "Globally Reachable" column.
        pub global: bool,
    }

    const fn b(name: &'static str, global: bool) -> Block {
        Block { name, global }
    }

    /// <https://www.iana.org/assignments/iana-ipv4-special-registry/>
    const V4: &[(u32, u8, Block)] = &[
        (0x0000_0000, 8, b("this network", false)),
        (0x0a00_0000, 8, b("private", false)),
        (0x6440_0000, 10, b("shared address space (CGNAT)", false)),
        (0x7f00_0000, 8, b("loopback", false)),
        (0xa9fe_0000, 16, b("link-local (cloud metadata)", false)),
        (0xac10_0000, 12, b("private", false)),
        (0xc000_0000, 24, b("IETF protocol assignments", false)),
        (0xc000_0000, 29, b("IPv4 service continuity prefix", false)),
        (0xc000_0008, 32, b("IPv4 dummy address", false)),
        (0xc000_0009, 32, b("port control protocol anycast", true)),
        (0xc000_000a, 32, b("TURN anycast", true)),
        (0xc000_00aa, 32, b("NAT64/DNS64 discovery", false)),
        (0xc000_00ab, 32, b("NAT64/DNS64 discovery", false)),
        (0xc000_0200, 24, b("documentation (TEST-NET-1)", false)),
        (0xc01f_c400, 24, b("AS112-v4", true)),
        (0xc034_c100, 24, b("AMT", true)),
        (0xc058_6300, 24, b("deprecated 6to4 relay anycast", false)),
        (0xc0a8_0000, 16, b("private", false)),
        (0xc0af_3000, 24, b("direct delegation AS112 service", true)),
        (0xc612_0000, 15, b("benchmarking", false)),
        (0xc633_6400, 24, b("documentation (TEST-NET-2)", false)),
        (0xcb00_7100, 24, b("documentation (TEST-NET-3)", false)),
        (0xf000_0000, 4, b("reserved", false)),
        (0xffff_ffff, 32, b("limited broadcast", false)),
    ];

    /// <https://www.iana.org/assignments/iana-ipv6-special-registry/>
    const V6: &[(u128, u8, Block)] = &[
        (0, 128, b("unspecified", false)),
        (1, 128, b("loopback", false)),
        (0xffff_0000_0000, 96, b("IPv4-mapped", false)),
        (0xffff_u128 << 64, 96, b("IPv4-translated", false)),
        (0x0064_ff9b_u128 << 96, 96, b("NAT64 translation (embeds an IPv4 address)", false)),
        (0x0064_ff9b_0001_u128 << 80, 48, b("local-use IPv4/IPv6 translation", false)),
        (0x0100_u128 << 112, 64, b("discard-only", false)),
        ((0x0100_u128 << 112) | (1 << 64), 64, b("dummy IPv6 prefix", false)),
        (0x2001_u128 << 112, 23, b("IETF protocol assignments", false)),
        (0x2001_u128 << 112, 32, b("Teredo (embeds an IPv4 address)", false)),
        ((0x2001_0001_u128 << 96) | 1, 128, b("port control protocol anycast", true)),
        ((0x2001_0001_u128 << 96) | 2, 128, b("TURN anycast", true)),
        ((0x2001_0001_u128 << 96) | 3, 128, b("DNS-SD service registration anycast", true)),
        (0x2001_0002_u128 << 96, 48, b("benchmarking", false)),
        (0x2001_0003_u128 << 96, 32, b("AMT", true)),
        (0x2001_0004_0112_u128 << 80, 48, b("AS112-v6", true)),
        (0x2001_0010_u128 << 96, 28, b("deprecated ORCHID", false)),
        (0x2001_0020_u128 << 96, 28, b("ORCHIDv2", true)),
        (0x2001_0030_u128 << 96, 28, b("drone remote ID", true)),
        (0x2001_0db8_u128 << 96, 32, b("documentation", false)),
        (0x2002_u128 << 112, 16, b("6to4 (embeds an IPv4 address)", false)),
        (0x2620_004f_8000_u128 << 80, 48, b("direct delegation AS112 service", true)),
        (0x3fff_u128 << 112, 20, b("documentation", false)),
        (0x5f00_u128 << 112, 16, b("segment routing SIDs", false)),
        (0xfc00_u128 << 112, 7, b("private (unique local)", false)),
        (0xfe80_u128 << 112, 10, b("link-local", false)),
    ];

    /// The most specific block holding `ip`, if any.
    pub fn v4(ip: Ipv4Addr) -> Option<Block> {
        let ip = u32::from(ip);
        most_specific(V4.iter().map(|&(net, len, block)| (u128::from(net) << 96, len, block)), u128::from(ip) << 96)
    }

    pub fn v6(ip: Ipv6Addr) -> Option<Block> {
        most_specific(V6.iter().copied(), u128::from(ip))
    }

    fn most_specific(blocks: impl Iterator<Item = (u128, u8, Block)>, ip: u128) -> Option<Block> {
        blocks
            .filter(|&(net, len, _)| {
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
                ip & mask == net & mask
            })
            .max_by_key(|&(_, len, _)| len)
            .map(|(_, _, block)| block)
    }
}

/// Request headers a caller may not set on an outbound request: `Host` (it would
/// send the request to another virtual host than the checked URL names) and the
/// hop-by-hop and framing fields, which belong to the connection, not the caller.
pub fn refused_header(name: &str) -> bool {
    const REFUSED: &[&str] = &[
        "host",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    ];
    REFUSED.iter().any(|refused| name.eq_ignore_ascii_case(refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny() -> TargetPolicy {
        TargetPolicy { allow_private: false }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.9.9.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            // Found by the outside probe: translated, compatible, tunnelled forms.
            "::ffff:0:127.0.0.1",
            "::ffff:0:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "64:ff9b:1::808:808",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:808:808::",
            "192.88.99.1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.255",
            "2001:db8::1",
            "3fff::1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "2001:2::1",
            "2001:10::1",
            "5f00::1",
            "fec0::1",
            "4000::1",
            "ff0e::1",
            "239.255.255.250",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(forbidden_reason(ip).is_some(), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "169.253.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            // Globally reachable special-purpose blocks stay allowed.
            "192.0.0.9",
            "192.31.196.1",
            "2001:1::1",
            "2001:3::1",
            "2001:20::1",
            "2620:4f:8000::1",
            "2a00:1450:4001::1",
            "198.17.255.255",
            "198.20.0.1",
            "192.0.3.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_reason(ip), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn the_most_specific_block_decides() {
        let teredo: Ipv6Addr = "2001::1".parse().unwrap();
        assert_eq!(special_purpose::v6(teredo).map(|b| b.name), Some("Teredo (embeds an IPv4 address)"));
        let pcp: Ipv4Addr = "192.0.0.9".parse().unwrap();
        assert_eq!(special_purpose::v4(pcp).map(|b| b.global), Some(true));
        let continuity: Ipv4Addr = "192.0.0.1".parse().unwrap();
        assert_eq!(special_purpose::v4(continuity).map(|b| b.name), Some("IPv4 service continuity prefix"));
        assert_eq!(special_purpose::v4("8.8.8.8".parse().unwrap()), None);
    }

    #[test]
    fn callers_may_not_set_host_or_hop_by_hop_headers() {
        for name in ["Host", "host", "Connection", "Transfer-Encoding", "TE", "Upgrade", "Proxy-Authorization"] {
            assert!(refused_header(name), "{name}");
        }
        for name in ["Authorization", "X-Host", "Content-Type", "Accept"] {
            assert!(!refused_header(name), "{name}");
        }
    }

    #[test]
    fn every_redirect_hop_is_checked_and_the_hops_are_counted() {
        let public = url("https://example.com/next");
        for hops in 0..MAX_REDIRECTS {
            assert_eq!(deny().check_redirect(hops, &public), Ok(()), "hop {hops}");
        }
        assert_eq!(deny().check_redirect(MAX_REDIRECTS, &public), Err(RedirectError::TooMany));
        for target in
            ["http://127.0.0.1/", "http://169.254.169.254/", "http://[::ffff:0:7f00:1]/", "http://[64:ff9b::a00:1]/"]
        {
            assert!(
                matches!(
                    deny().check_redirect(1, &url(target)),
                    Err(RedirectError::Target(SsrfError::Forbidden { .. }))
                ),
                "{target}"
            );
        }
        assert!(matches!(
            deny().check_redirect(0, &url("file:///etc/passwd")),
            Err(RedirectError::Target(SsrfError::Scheme))
        ));
        let allow = TargetPolicy { allow_private: true };
        assert_eq!(allow.check_redirect(2, &url("http://127.0.0.1/")), Ok(()));
        assert_eq!(allow.check_redirect(MAX_REDIRECTS, &url("http://127.0.0.1/")), Err(RedirectError::TooMany));
    }

    #[test]
    fn metadata_address_is_named() {
        let err = deny().check_ip("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("metadata"));
    }

    #[test]
    fn allow_private_lets_everything_through() {
        let allow = TargetPolicy { allow_private: true };
        assert_eq!(allow.check_ip("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(allow.check_literal(&url("http://[::1]:8080/")), Ok(()));
        assert_eq!(allow.check_literal(&url("file:///etc/passwd")), Err(SsrfError::Scheme));
    }

    #[test]
    fn literal_checks() {
        assert_eq!(deny().check_literal(&url("ftp://example.com/")), Err(SsrfError::Scheme));
        assert!(deny().check_literal(&url("http://127.0.0.1/")).is_err());
        // Odd spellings of loopback are normalised by the URL parser.
        assert!(deny().check_literal(&url("http://2130706433/")).is_err());
        assert!(deny().check_literal(&url("http://0x7f.1/")).is_err());
        assert!(deny().check_literal(&url("http://[::ffff:7f00:1]/")).is_err());
        assert_eq!(deny().check_literal(&url("https://8.8.8.8/")), Ok(()));
        assert_eq!(deny().check_literal(&url("https://example.com/")), Ok(()));
    }

    #[tokio::test]
    async fn localhost_is_resolved_and_refused() {
        let err = deny().check_url(&url("http://localhost:9/x")).await.unwrap_err();
        assert!(matches!(err, SsrfError::Forbidden { reason: "loopback", .. }), "{err}");
        let allowed = TargetPolicy { allow_private: true }.check_url(&url("http://localhost:9/")).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        assert_eq!(deny().check_url(&url("http://8.8.8.8/")).await.unwrap()[0].port(), 80);
    }

    #[tokio::test]
    async fn the_guarded_client_refuses_names_that_resolve_to_loopback() {
        let client = deny().client(Duration::from_secs(2)).unwrap();
        let err = client.get("http://localhost:9/").send().await.unwrap_err();
        assert!(crate::ssrf::find_ssrf_error(&err).is_some(), "{err:?}");
    }
}
