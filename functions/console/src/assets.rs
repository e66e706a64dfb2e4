//! The console's files, built into the component, and the headers every one of them is served with.

/// One embedded file.
pub struct Asset {
    /// The file name under `/console/`.
    pub name: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The file `assets/<name>`, built in.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

/// The page itself (`/console`).
pub const INDEX: Asset = asset!("index.html", HTML);

/// The files the page loads, by name.
pub const FILES: &[Asset] = &[
    INDEX,
    asset!("console.css", CSS),
    asset!("api.js", JS),
    asset!("chart.js", JS),
    asset!("format.js", JS),
    asset!("app.js", JS),
    asset!("icon.svg", SVG),
];

/// The file called `name`, if the console has one.
pub fn find(name: &str) -> Option<&'static Asset> {
    FILES.iter().find(|asset| asset.name == name)
}

/// Only the console's own files may run, style or be fetched: no inline script or style, no other
/// origin, no framing (the page holds the admin token in its session).
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// The headers of every console response besides its content type.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    // The files change with each build of the component; a browser asks again rather than guess.
    ("cache-control", "no-cache"),
];
