//! Spin-style HTTP routing: exact routes, `:param` segments and trailing `/...` wildcards.
//! The most specific match wins (segment by segment: literal > `:param` > end of an exact
//! route > wildcard); private triggers never enter the router.

use std::cmp::Ordering;
use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::manifest::{Manifest, RouteDef};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route pattern such as `/api/v1/items/:id/...`.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    /// The route exactly as written in the manifest.
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl RoutePattern {
    /// Parses a route pattern.
    pub fn parse(raw: &str) -> Result<Self> {
        let absolute = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        let (body, wildcard) = match absolute.strip_suffix("/...") {
            Some(b) => (b.to_owned(), true),
            None => (absolute.trim_end_matches('/').to_owned(), false),
        };
        let mut segments = Vec::new();
        for seg in body.split('/').filter(|s| !s.is_empty()) {
            if seg == "..." {
                bail!("'...' is only allowed at the end of route {raw:?}");
            }
            match seg.strip_prefix(':') {
                Some("") => bail!("empty parameter name in route {raw:?}"),
                Some(name) => segments.push(Segment::Param(name.to_owned())),
                None => segments.push(Segment::Literal(seg.to_owned())),
            }
        }
        Ok(Self {
            raw: raw.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route as written, e.g. `/api/...`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The route without its trailing `/...` (Spin's `spin-component-route`).
    pub fn prefix(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(&self.raw)
    }

    /// Matches a request path (no query). Returns captured params and the trailing path info.
    fn matches(&self, path: &str) -> Option<(HashMap<String, String>, String)> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = HashMap::new();
        for (seg, part) in self.segments.iter().zip(&parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), (*part).to_owned());
                }
            }
        }
        let path_info = if self.wildcard {
            let rest = parts[self.segments.len()..].join("/");
            // Like Spin: keep the request's trailing slash in the path info.
            match (rest.is_empty(), path.ends_with('/') && path != "/") {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some((params, path_info))
    }

    /// Specificity key: literal 4, param 3, end of exact route 2, wildcard 1.
    fn rank(&self) -> Vec<u8> {
        let mut r: Vec<u8> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 4,
                Segment::Param(_) => 3,
            })
            .collect();
        r.push(if self.wildcard { 1 } else { 2 });
        r
    }
}

/// The result of routing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Id of the component that serves the request.
    pub component_id: String,
    /// `spin-matched-route` / `spin-raw-component-route`: the route as written.
    pub matched_route: String,
    /// `spin-component-route`: the route without its trailing `/...`.
    pub component_route: String,
    /// `spin-path-info`: the part of the path matched by the trailing wildcard.
    pub path_info: String,
    /// `:param` captures, sent as `spin-path-match-<name>` headers.
    pub params: HashMap<String, String>,
}

impl RouteMatch {
    /// The synthetic match Spin uses for local service chaining: route `/...`, path info the
    /// whole path.
    pub fn chained(component_id: &str, path: &str) -> Self {
        Self {
            component_id: component_id.to_owned(),
            matched_route: "/...".to_owned(),
            component_route: String::new(),
            path_info: path.to_owned(),
            params: HashMap::new(),
        }
    }
}

/// Routes request paths to components.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<(RoutePattern, String)>,
}

impl Router {
    /// Builds the router from the manifest's public HTTP triggers. A later duplicate route
    /// replaces an earlier one, as in Spin.
    pub fn from_manifest(manifest: &Manifest) -> Result<Self> {
        let mut router = Router::default();
        for t in &manifest.trigger.http {
            if let RouteDef::Pattern(p) = &t.route {
                router.add(p, &t.component)?;
            }
        }
        Ok(router)
    }

    /// Adds one route.
    pub fn add(&mut self, route: &str, component_id: &str) -> Result<()> {
        let pattern = RoutePattern::parse(route)?;
        self.routes.retain(|(p, _)| p.raw != pattern.raw);
        self.routes.push((pattern, component_id.to_owned()));
        Ok(())
    }

    /// The best match for a request path (without query), if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let mut best: Option<(&RoutePattern, &String, HashMap<String, String>, String)> = None;
        for (pattern, id) in &self.routes {
            let Some((params, info)) = pattern.matches(path) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((b, ..)) => pattern.rank().cmp(&b.rank()) == Ordering::Greater,
            };
            if better {
                best = Some((pattern, id, params, info));
            }
        }
        best.map(|(pattern, id, params, path_info)| RouteMatch {
            component_id: id.clone(),
            matched_route: pattern.raw.clone(),
            component_route: pattern.prefix().to_owned(),
            path_info,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let mut r = Router::default();
        for (route, id) in routes {
            r.add(route, id).expect("valid route");
        }
        r
    }

    fn id(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component_id)
    }

    #[test]
    fn exact_and_wildcard() {
        let r = router(&[
            ("/dispatch/tick", "dispatch"),
            ("/api/v1/campaigns/...", "dispatch"),
            ("/api/v1/subscribers/...", "subs"),
        ]);
        assert_eq!(id(&r, "/dispatch/tick").as_deref(), Some("dispatch"));
        assert_eq!(id(&r, "/dispatch/tick/").as_deref(), Some("dispatch"));
        assert_eq!(id(&r, "/dispatch/tickx"), None);
        assert_eq!(id(&r, "/dispatch"), None);
        let m = r.route("/api/v1/subscribers/42/tags").expect("match");
        assert_eq!(m.component_id, "subs");
        assert_eq!(m.path_info, "/42/tags");
        assert_eq!(m.matched_route, "/api/v1/subscribers/...");
        assert_eq!(m.component_route, "/api/v1/subscribers");
        let m = r.route("/api/v1/subscribers").expect("bare prefix matches");
        assert_eq!(m.path_info, "");
        assert_eq!(r.route("/api/v1/subscribers/").expect("m").path_info, "/");
        assert_eq!(id(&r, "/api/v1/subscribersX"), None);
        assert_eq!(id(&r, "/nope"), None);
    }

    #[test]
    fn most_specific_wins_regardless_of_order() {
        for routes in [
            vec![
                ("/...", "all"),
                ("/one/...", "one"),
                ("/one/two/...", "two"),
                ("/one", "exact"),
            ],
            vec![
                ("/one", "exact"),
                ("/one/two/...", "two"),
                ("/one/...", "one"),
                ("/...", "all"),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(id(&r, "/one/two/three").as_deref(), Some("two"));
            assert_eq!(id(&r, "/one/x").as_deref(), Some("one"));
            assert_eq!(id(&r, "/one").as_deref(), Some("exact"));
            assert_eq!(id(&r, "/").as_deref(), Some("all"));
            assert_eq!(id(&r, "/zzz").as_deref(), Some("all"));
        }
    }

    #[test]
    fn params() {
        let r = router(&[
            ("/users/:id", "user"),
            ("/users/me", "me"),
            ("/users/:id/...", "sub"),
        ]);
        let m = r.route("/users/42").expect("match");
        assert_eq!(m.component_id, "user");
        assert_eq!(m.params["id"], "42");
        assert_eq!(id(&r, "/users/me").as_deref(), Some("me"));
        let m = r.route("/users/42/posts/1").expect("match");
        assert_eq!(m.component_id, "sub");
        assert_eq!(m.path_info, "/posts/1");
        assert_eq!(m.component_route, "/users/:id");
    }

    #[test]
    fn private_routes_are_not_routable_and_duplicates_replace() {
        let m = Manifest::parse(
            r#"
spin_manifest_version = 2
[[trigger.http]]
route = { private = true }
component = "hidden"
[[trigger.http]]
route = "/a/..."
component = "first"
[[trigger.http]]
route = "/a/..."
component = "second"
[component.hidden]
source = "h.wasm"
[component.first]
source = "f.wasm"
[component.second]
source = "s.wasm"
"#,
        )
        .expect("manifest");
        let r = Router::from_manifest(&m).expect("router");
        assert_eq!(id(&r, "/a/b").as_deref(), Some("second"));
        assert_eq!(id(&r, "/"), None);
        assert!(RoutePattern::parse("/a/.../b").is_err());
    }
}
