//! `allowed_outbound_hosts` parsing and matching: `scheme://host[:port]`, with `*` for the
//! scheme, the whole host, a leading host label (`*.example.com`) or the port, and port ranges
//! (`8000..8010`). A missing port means the scheme's default port.

use anyhow::{bail, Context, Result};

/// The suffix of hosts served in process by local service chaining.
pub const SERVICE_CHAINING_SUFFIX: &str = ".spin.internal";

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// No port given: the request scheme's default port.
    Default,
    Range(u16, u16),
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// `None` means any scheme.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// Default port of a URL scheme.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses one (already template-expanded) entry such as `https://api.example.com`.
    pub fn parse(entry: &str) -> Result<Self> {
        let entry = entry.trim();
        let (scheme, rest) = entry.split_once("://").with_context(|| {
            format!("allowed outbound host {entry:?} must be scheme://host[:port]")
        })?;
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() => Some(s.to_ascii_lowercase()),
            _ => bail!("allowed outbound host {entry:?} has an empty scheme"),
        };
        // A bare trailing slash is harmless; any other path is not supported.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') {
            bail!("allowed outbound host {entry:?} must not contain a path");
        }
        let (host, port) = split_host_port(authority);
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            bail!("allowed outbound host {entry:?} has an invalid host");
        } else {
            HostPattern::Exact(host)
        };
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((lo, hi)) => PortPattern::Range(
                    lo.parse()
                        .with_context(|| format!("bad port range in {entry:?}"))?,
                    hi.parse()
                        .with_context(|| format!("bad port range in {entry:?}"))?,
                ),
                None => {
                    let p: u16 = p
                        .parse()
                        .with_context(|| format!("bad port in {entry:?}"))?;
                    PortPattern::Range(p, p)
                }
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry. `port` is the
    /// explicit port, or `None` for the scheme's default.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        if self.scheme.as_ref().is_some_and(|s| *s != scheme) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
        };
        if !host_ok {
            return false;
        }
        let Some(port) = port.or_else(|| default_port(&scheme)) else {
            return false;
        };
        match &self.port {
            PortPattern::Any => true,
            PortPattern::Default => {
                self.scheme
                    .as_deref()
                    .map_or(default_port(&scheme), default_port)
                    == Some(port)
            }
            PortPattern::Range(lo, hi) => (*lo..=*hi).contains(&port),
        }
    }
}

/// Splits `host[:port]`, keeping bracketed IPv6 literals whole.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(end) = authority.find(']') {
            let host = &authority[..=end];
            let port = authority[end + 1..].strip_prefix(':');
            return (host, port);
        }
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

/// A component's whole `allowed_outbound_hosts` list.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parses expanded entries; empty entries (a variable set to "") are skipped.
    pub fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Self> {
        let entries = entries
            .into_iter()
            .filter(|e| !e.as_ref().trim().is_empty())
            .map(|e| AllowedHost::parse(e.as_ref()))
            .collect::<Result<_>>()?;
        Ok(Self { entries })
    }

    /// Whether any entry allows `scheme://host[:port]`.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries.iter().any(|e| e.allows(scheme, host, port))
    }

    /// Whether a URL (`scheme://host[:port]/...`) is allowed.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(s), Some(h)) => self.allows(s, h, uri.port_u16()),
            _ => false,
        }
    }
}

/// The component id of a service-chaining host (`<id>.spin.internal`), if it is one.
pub fn chained_component(host: &str) -> Option<&str> {
    host.strip_suffix(SERVICE_CHAINING_SUFFIX)
        .filter(|id| !id.is_empty() && !id.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries.iter().copied()).expect("valid")
    }

    #[test]
    fn exact_hosts_with_default_ports() {
        let a = hosts(&[
            "https://api.telegram.org",
            "http://127.0.0.1:8123",
            "http://feedback.spin.internal",
        ]);
        assert!(a.allows("https", "api.telegram.org", None));
        assert!(a.allows("https", "API.Telegram.org", Some(443)));
        assert!(!a.allows("http", "api.telegram.org", None));
        assert!(!a.allows("https", "api.telegram.org", Some(8443)));
        assert!(!a.allows("https", "evil.org", None));
        assert!(a.allows("http", "127.0.0.1", Some(8123)));
        assert!(!a.allows("http", "127.0.0.1", None));
        assert!(!a.allows("http", "127.0.0.1", Some(8124)));
        assert!(a.allows("http", "feedback.spin.internal", None));
        assert!(!a.allows("http", "dispatch.spin.internal", None));
        let uri: http::Uri = "https://api.telegram.org/bot1/sendMessage"
            .parse()
            .expect("uri");
        assert!(a.allows_uri(&uri));
    }

    #[test]
    fn wildcards_and_ranges() {
        let a = hosts(&[
            "*://*.example.com:*",
            "http://localhost:8000..8010",
            "https://*",
        ]);
        assert!(a.allows("http", "a.example.com", Some(1)));
        assert!(a.allows("https", "b.a.example.com", None));
        assert!(!a.allows("https", "example.com", Some(1)));
        assert!(a.allows("http", "localhost", Some(8005)));
        assert!(!a.allows("http", "localhost", Some(8011)));
        assert!(a.allows("https", "anything.org", None));
        assert!(!a.allows("https", "anything.org", Some(444)));
    }

    #[test]
    fn parsing() {
        assert!(AllowedHost::parse("api.telegram.org").is_err());
        assert!(AllowedHost::parse("https://a.org/path").is_err());
        assert!(AllowedHost::parse("https://a.org/").is_ok());
        assert!(AllowedHost::parse("http://[::1]:8080").is_ok());
        assert!(hosts(&["", "https://a.org"]).allows("https", "a.org", None));
        assert_eq!(
            chained_component("feedback.spin.internal"),
            Some("feedback")
        );
        assert_eq!(chained_component("spin.internal"), None);
        assert_eq!(chained_component("api.telegram.org"), None);
    }
}
