//! The WebSocket handshake of both WebSocket transports, done here rather than by axum's
//! extractor so that the frames pass through our readers on their way to the WebSocket
//! library (the extractor builds the socket over the raw stream): every socket's through
//! [`super::metered`] (the budget of messages being received), a Hocuspocus socket's also
//! through the pre-authentication gate (`hocuspocus/gate.rs`).

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::Response,
};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::{
    tungstenite::{
        self,
        handshake::derive_accept_key,
        protocol::{CloseFrame, Role, WebSocketConfig},
        Message,
    },
    WebSocketStream,
};

use super::{
    close::{self, SocketError},
    socket_loop::{Read, Wire},
};
use crate::error::ApiError;

/// The upgraded connection, before our readers.
pub(crate) type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

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

    /// Answers 101 and, once the client has the socket, runs `serve` on the WebSocket
    /// library over `wrap` of the stream (and what else `wrap` made).
    pub(crate) fn accept<S, T, W, F, Fut>(
        self,
        max_message_size: usize,
        wrap: W,
        serve: F,
    ) -> Response
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        T: Send + 'static,
        W: FnOnce(Upgraded) -> (S, T) + Send + 'static,
        F: FnOnce(WebSocketStream<S>, T) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Handshake { upgrade, accept } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else {
                return;
            };
            let (stream, with) = wrap(TokioIo::new(upgraded));
            // The library's defaults reserve (and zero) 128 KiB per connection for reading.
            // y-protocol frames are mostly tiny, and once a frame's header is read the
            // buffer grows to hold the whole frame, so a small start costs big frames
            // nothing and idle connections little.
            let config = WebSocketConfig::default()
                .read_buffer_size(256)
                .write_buffer_size(16 * 1024)
                .max_message_size(Some(max_message_size))
                .max_frame_size(Some(max_message_size));
            let socket = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
            serve(socket, with).await;
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

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Wire for WebSocketStream<S> {
    type Message = Message;
    type Failure = tungstenite::Error;

    fn read(message: Message) -> Read {
        match message {
            Message::Binary(data) => Read::Binary(data),
            Message::Text(_) => Read::Text,
            Message::Close(_) => Read::Close,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Read::Control,
        }
    }

    fn error(err: tungstenite::Error) -> SocketError {
        if close::is_too_big(&err) {
            SocketError::TooBig
        } else {
            SocketError::Read(Box::new(err))
        }
    }

    fn close_frame(code: u16, reason: String) -> Message {
        Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: reason.into(),
        }))
    }
}
