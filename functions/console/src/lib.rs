//! The console component: serves the web console's page and files, built into the component. It holds
//! no data and no secret: the page calls the `/api/v1` routes with the admin token the operator types in.

mod assets;

pub use assets::{Asset, CONTENT_SECURITY_POLICY, FILES};

use spinpost::web::{Group, Params, Request, Response, Router};
use spinpost::{Error, Result};

/// The route table: the page at `/console` (and `/console/`), its files at `/console/<name>`. Open
/// routes: the files are public, the data behind them is not.
pub fn routes() -> Router<()> {
    Router::new().group(
        Group::open()
            .get("/console", page)
            .get("/console/:file", file),
    )
}

spin_adapter::export_component!(|| Ok(()), routes());

fn page(_: &(), _: &Request, _: &Params) -> Result<Response> {
    Ok(served(&assets::INDEX))
}

fn file(_: &(), _: &Request, params: &Params) -> Result<Response> {
    let name = params.get("file");
    assets::find(name)
        .map(served)
        .ok_or_else(|| Error::not_found("console file", name))
}

fn served(asset: &Asset) -> Response {
    assets::SECURITY_HEADERS.iter().fold(
        Response::with_content(200, asset.content_type, asset.body),
        |response, (name, value)| response.with_header(name, value),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinpost::web::Method;

    fn get(path: &str) -> Response {
        routes().handle(&(), &Request::new(Method::GET, path))
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(asset: &Asset) -> &str {
        std::str::from_utf8(asset.body).unwrap_or_default()
    }

    #[test]
    fn the_page_is_served_at_console_with_and_without_a_slash() {
        for path in ["/console", "/console/"] {
            let response = get(path);
            assert_eq!(response.status, 200, "{path}");
            assert_eq!(
                header(&response, "content-type"),
                Some("text/html; charset=utf-8")
            );
            assert!(String::from_utf8_lossy(&response.body).contains("<title>Spinpost console"));
        }
    }

    #[test]
    fn every_file_comes_with_the_security_headers() {
        for asset in FILES {
            let response = get(&format!("/console/{}", asset.name));
            assert_eq!(response.status, 200, "{}", asset.name);
            assert_eq!(header(&response, "content-type"), Some(asset.content_type));
            assert_eq!(
                header(&response, "content-security-policy"),
                Some(CONTENT_SECURITY_POLICY)
            );
            assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
            assert_eq!(header(&response, "x-frame-options"), Some("DENY"));
        }
    }

    #[test]
    fn the_policy_allows_only_the_consoles_own_origin() {
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(!CONTENT_SECURITY_POLICY.contains("data:"));
    }

    #[test]
    fn an_unknown_file_is_a_json_404_and_other_methods_a_405() {
        let response = get("/console/secrets.txt");
        assert_eq!(response.status, 404);
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
        assert_eq!(body["error"]["code"], "not_found");
        let post = routes().handle(&(), &Request::new(Method::POST, "/console"));
        assert_eq!(post.status, 405);
    }

    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let html = text(&assets::INDEX).to_ascii_lowercase();
        for script in html.split("<script").skip(1) {
            let tag_end = script.find('>').unwrap_or(script.len());
            assert!(script[..tag_end].contains("src=\"/console/"), "{script}");
            assert!(script[tag_end + 1..].trim_start().starts_with("</script>"));
        }
        assert!(!html.contains("<style"));
        assert!(!html.contains(" style="));
        assert!(!html.contains(" onclick=") && !html.contains(" onsubmit="));
    }

    #[test]
    fn the_page_loads_nothing_from_another_host() {
        for asset in FILES {
            let body = text(asset);
            for scheme in ["http://", "https://", "//cdn"] {
                let outside = body
                    .match_indices(scheme)
                    .any(|(at, _)| !body[at..].starts_with("http://www.w3.org/2000/svg"));
                assert!(!outside, "{} refers to {scheme}", asset.name);
            }
        }
    }
}
