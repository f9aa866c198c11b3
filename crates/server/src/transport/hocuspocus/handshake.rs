//! The Hocuspocus socket's WebSocket handshake, done here rather than by axum's extractor
//! so that the frames can pass through the pre-authentication [`super::gate`] on their way
//! to the WebSocket library: the extractor builds the socket over the raw stream.

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::Response,
};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::{
    tungstenite::{handshake::derive_accept_key, protocol::Role, protocol::WebSocketConfig},
    WebSocketStream,
};

use super::gate::{Gate, Opener};
use crate::error::ApiError;

pub(crate) type Socket = WebSocketStream<Gate<TokioIo<hyper::upgrade::Upgraded>>>;

/// A request that may become a WebSocket: what completes the upgrade, and the answer.
pub(crate) struct Handshake {
    upgrade: OnUpgrade,
    accept: String,
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

impl Handshake {
    pub(crate) fn of(req: &mut Request) -> Result<Handshake, ApiError> {
        let bad = |what: &str| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("not a WebSocket handshake: {what}"),
            )
        };
        if req.method() != Method::GET {
            return Err(bad("the method must be GET"));
        }
        let headers = req.headers();
        if !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err(bad(
                "Connection: upgrade and Upgrade: websocket are missing",
            ));
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13")) {
            return Err(bad("Sec-WebSocket-Version must be 13"));
        }
        let accept = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .map(|key| derive_accept_key(key.as_bytes()))
            .ok_or_else(|| bad("Sec-WebSocket-Key is missing"))?;
        let upgrade = req
            .extensions_mut()
            .remove::<OnUpgrade>()
            .ok_or_else(|| bad("the connection cannot be upgraded"))?;
        Ok(Handshake { upgrade, accept })
    }

    /// Answers 101 and runs `serve` on the socket once the client has it.
    pub(crate) fn accept<F, Fut>(self, max_message_size: usize, serve: F) -> Response
    where
        F: FnOnce(Socket, Opener) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Handshake { upgrade, accept } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else {
                return;
            };
            let (gate, opener) = Gate::new(TokioIo::new(upgraded));
            // As for y-websocket: a small read buffer to start with (it grows to hold a
            // frame once the frame's header is read), the full message size after
            // authentication (the gate keeps frames small before it).
            let config = WebSocketConfig::default()
                .read_buffer_size(256)
                .write_buffer_size(16 * 1024)
                .max_message_size(Some(max_message_size))
                .max_frame_size(Some(max_message_size));
            let socket = WebSocketStream::from_raw_socket(gate, Role::Server, Some(config)).await;
            serve(socket, opener).await;
        });
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(Body::empty())
            .expect("a valid 101 answer")
    }
}
