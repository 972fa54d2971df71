//! `GET /`: the dashboard, one self-contained page embedded in the binary
//! (inline CSS and JS, no framework, no CDN). It holds no data: it asks for
//! the token once, keeps it in localStorage and calls the API with it.

use super::http::Reply;

pub const PAGE: &str = include_str!("dashboard.html");

/// Everything the page may load is inline; it may only talk to this server.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
    connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn page() -> Reply {
    Reply::text(200, "text/html; charset=utf-8", PAGE)
        .header("Content-Security-Policy", CSP)
        .header("X-Frame-Options", "DENY")
}
