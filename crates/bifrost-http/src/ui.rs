//! The web UI: a static single-page app (`crates/bifrost-http/ui/`, plain ES modules and a
//! vendored uPlot, no build step) embedded in the binary and served at `/` and `/ui/*`. It only
//! talks to the management, logs and governance APIs, so it holds no secrets: the shell is
//! open even with admin auth on, and its login page gets the session.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    path: &'static str,
    body: &'static [u8],
    mime: &'static str,
}

macro_rules! assets {
    ($($path:literal => $mime:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            body: include_bytes!(concat!("../ui/", $path)),
            mime: $mime,
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "app.css" => "text/css; charset=utf-8",
    "js/app.js" => JS,
    "js/core.js" => JS,
    "js/dashboard.js" => JS,
    "js/logs.js" => JS,
    "js/providers.js" => JS,
    "js/governance.js" => JS,
    "js/settings.js" => JS,
    "js/playground.js" => JS,
    "vendor/uPlot.iife.min.js" => JS,
    "vendor/uPlot.min.css" => "text/css; charset=utf-8",
    "vendor/uPlot.LICENSE" => "text/plain; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
};

/// Strong ETags, one per asset (content hashes, computed once).
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let d = Sha256::digest(a.body);
            let hex: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
            // Hex digits in quotes: always a valid header value.
            HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or(HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// Gzipped bodies (compressed once, on first use) and their ETags: ≈ 140 KB of text is ≈ 47 KB
/// on the wire.
static GZIPPED: LazyLock<Vec<(Vec<u8>, HeaderValue)>> = LazyLock::new(|| {
    use std::io::Write as _;
    ASSETS
        .iter()
        .zip(ETAGS.iter())
        .map(|(a, etag)| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing to a Vec cannot fail.
            let body = enc
                .write_all(a.body)
                .and_then(|()| enc.finish())
                .unwrap_or_default();
            let tag = etag.to_str().unwrap_or("\"\"").trim_end_matches('"');
            let tag =
                HeaderValue::from_str(&format!("{tag}-gz\"")).unwrap_or_else(|_| etag.clone());
            (body, tag)
        })
        .collect()
});

/// Same-origin only: the UI loads nothing from elsewhere and must not be framed.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(asset))
}

/// Whether `path` is the UI's (served without admin credentials: the shell has no data).
pub fn is_ui_path(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
    };
    let a = &ASSETS[i];
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let (body, etag): (&'static [u8], HeaderValue) = if gzip {
        let (b, t) = &GZIPPED[i];
        (b.as_slice(), t.clone())
    } else {
        (a.body, ETAGS[i].clone())
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    // `no-cache`: revalidated on each load (a 304 when unchanged), so an upgrade is seen at
    // once without versioned file names.
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let mut resp = (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(a.mime))],
        body,
    )
        .into_response();
    if gzip {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// Whether an `Accept-Encoding` value allows gzip (`gzip`, not `gzip;q=0`).
fn accepts_gzip(v: &str) -> bool {
    v.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let refused = |p: &str| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        };
        it.next().is_some_and(|e| e.eq_ignore_ascii_case("gzip")) && !it.any(refused)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_module_the_app_imports_is_embedded() {
        // A module missing from ASSETS would 404 in the browser and blank the page.
        let embedded = |p: &str| ASSETS.iter().any(|a| a.path == p);
        let mut imports = 0;
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let src = std::str::from_utf8(a.body).unwrap();
            // `… from "./x.js";` ends every (possibly multi-line) import.
            for part in src.split(" from \"./").skip(1) {
                let file = part.split('"').next().unwrap();
                assert!(
                    embedded(&format!("js/{file}")),
                    "{} imports ./{file}",
                    a.path
                );
                imports += 1;
            }
        }
        // app.js alone imports seven modules: a parse that finds none is broken.
        assert!(imports >= 7, "found {imports} imports");
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        let loads = html.split("/ui/").skip(1).count();
        assert!(loads >= 5, "index.html loads {loads} files");
        for part in html.split("/ui/").skip(1) {
            let file = part.split('"').next().unwrap();
            assert!(embedded(file), "index.html loads /ui/{file}");
        }
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip("gzip, deflate, br") && accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0") && !accepts_gzip("gzip;q=0.000") && !accepts_gzip("br"));
        assert!(!accepts_gzip("x-gzip-not"));
    }

    #[test]
    fn the_shell_is_open_and_only_the_shell() {
        assert!(is_ui_path("/") && is_ui_path("/ui/js/app.js"));
        assert!(!is_ui_path("/v1/chat/completions") && !is_ui_path("/uix"));
    }
}
