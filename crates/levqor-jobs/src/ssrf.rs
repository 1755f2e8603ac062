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
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match policy.check_literal(attempt.url()) {
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

/// Why a request to `ip` is refused, or `None` for a public address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "unspecified",
        (10, _, _) => "private",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local (cloud metadata)",
        (172, 16..=31, _) => "private",
        (192, 0, 0) => "reserved",
        (192, 168, _) => "private",
        (198, 18..=19, _) => "reserved (benchmarking)",
        (224..=239, _, _) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) reach IPv4 hosts.
    if seg[..6] == [0; 6] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_reason(embedded_v4(seg[6], seg[7]));
    }
    // 6to4 (2002::/16) embeds the IPv4 address in the next 32 bits.
    if seg[0] == 0x2002 {
        return v4_reason(embedded_v4(seg[1], seg[2]));
    }
    match seg[0] {
        s if s & 0xfe00 == 0xfc00 => Some("private (unique local)"),
        s if s & 0xffc0 == 0xfe80 => Some("link-local"),
        s if s & 0xffc0 == 0xfec0 => Some("site-local"),
        s if s & 0xff00 == 0xff00 => Some("multicast"),
        _ => None,
    }
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
            "2002:808:808::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden_reason(ip), None, "{ip} should be allowed");
        }
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
