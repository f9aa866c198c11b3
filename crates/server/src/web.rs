//! The web editor's files, and the single-page app's addresses.
//!
//! The editor routes in the browser, so its pages (`/`, `/d/{doc}`) are all `index.html`.
//! Any other address that is not a file is answered with `index.html` too (the app then shows
//! its "not found" page) but with status 404, so links checkers, crawlers and monitoring see
//! the truth. (Unknown `/api/` paths never get here: the API answers them with JSON.)

use std::{path::PathBuf, sync::Arc};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use tower::ServiceExt;
use tower_http::{
    compression::CompressionLayer, services::ServeDir, set_header::SetResponseHeaderLayer,
};

/// What the editor's pages may load and do. Scripts and connections only from this server
/// (`'self'` covers its `ws:`/`wss:` too); inline styles are allowed because CodeMirror
/// writes its styles into `<style>` elements and remote carets get their colour in a
/// `style` attribute (which is why presence colours are checked, in the server and in the
/// editor). No framing by other sites, no plugins, no `<base>` tricks.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

#[derive(Clone)]
struct WebDir {
    dir: Arc<PathBuf>,
}

pub(crate) fn routes(web_dir: PathBuf) -> Router {
    Router::new()
        .fallback(serve)
        .with_state(WebDir {
            dir: Arc::new(web_dir),
        })
        .layer(axum::middleware::from_fn(cache_headers))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // Editor addresses may carry a token (`?token=`): it must not leave in a Referer.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CompressionLayer::new())
}

/// Addresses the editor itself handles. `/d/` alone names no document: it is not found.
fn is_app_page(path: &str) -> bool {
    path == "/" || path == "/index.html" || path.strip_prefix("/d/").is_some_and(|d| !d.is_empty())
}

async fn serve(State(web): State<WebDir>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if !is_app_page(&path) {
        let res = match ServeDir::new(web.dir.as_path()).oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        if res.status() != StatusCode::NOT_FOUND {
            return res.map(Body::new);
        }
    }
    let status = if is_app_page(&path) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    match tokio::fs::read(web.dir.join("index.html")).await {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(err) => (
            StatusCode::NOT_FOUND,
            format!(
                "the web editor is not built ({}: {err}); run `npm ci && npm run build` in web/",
                web.dir.join("index.html").display()
            ),
        )
            .into_response(),
    }
}

/// Vite puts content-hashed files under /assets/: those never change. Everything else
/// (index.html, the app's pages) must be revalidated so a deploy shows up at once.
async fn cache_headers(req: Request, next: Next) -> Response {
    let immutable = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let value = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    res
}
