//! A typed client for the HTTP API: one method per route, so a test says what it asks
//! for instead of building requests by hand. Answers are returned as they come (a test
//! checks refusals too); `ok_json` asserts a status and parses the body.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use super::TestServer;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    bearer: Option<String>,
}

impl Api {
    pub fn new(server: &TestServer) -> Api {
        Api::at(server.http(""))
    }

    /// The API of a server at `base` (`http://host:port`).
    pub fn at(base: impl Into<String>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.into(),
            bearer: None,
        }
    }

    /// The same API, authenticated with a token or the admin key.
    pub fn bearer(&self, token: &str) -> Api {
        Api {
            bearer: Some(token.to_string()),
            ..self.clone()
        }
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.bearer {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send(req: RequestBuilder) -> Response {
        req.send().await.expect("HTTP request")
    }

    pub async fn config(&self) -> Value {
        ok_json(Self::send(self.req(Method::GET, "/api/config")).await, 200).await
    }

    pub async fn list(&self) -> Response {
        Self::send(self.req(Method::GET, "/api/documents")).await
    }

    pub async fn create(&self, name: &str) -> Response {
        let body = serde_json::json!({ "name": name });
        Self::send(self.req(Method::POST, "/api/documents").json(&body)).await
    }

    /// `POST /api/documents` with any body (name, title, kind).
    pub async fn create_json(&self, body: Value) -> Response {
        Self::send(self.req(Method::POST, "/api/documents").json(&body)).await
    }

    pub async fn document(&self, doc: &str) -> Response {
        Self::send(self.req(Method::GET, &format!("/api/documents/{doc}"))).await
    }

    pub async fn delete(&self, doc: &str) -> Response {
        Self::send(self.req(Method::DELETE, &format!("/api/documents/{doc}"))).await
    }

    pub async fn text(&self, doc: &str) -> Response {
        Self::send(self.req(Method::GET, &format!("/api/documents/{doc}/text"))).await
    }

    pub async fn state(&self, doc: &str) -> Response {
        Self::send(self.req(Method::GET, &format!("/api/documents/{doc}/state"))).await
    }

    pub async fn apply_update(&self, doc: &str, update: Vec<u8>) -> Response {
        let path = format!("/api/documents/{doc}/updates");
        let req = self.req(Method::POST, &path);
        Self::send(
            req.header("content-type", "application/octet-stream")
                .body(update),
        )
        .await
    }

    /// `PUT /api/documents/{doc}/content` with a body of the given media type.
    pub async fn put_content(&self, doc: &str, media: &str, body: &str) -> Response {
        let path = format!("/api/documents/{doc}/content");
        let req = self.req(Method::PUT, &path).header("content-type", media);
        Self::send(req.body(body.to_string())).await
    }

    pub async fn versions(&self, doc: &str) -> Response {
        Self::send(self.req(Method::GET, &format!("/api/documents/{doc}/versions"))).await
    }

    pub async fn create_version(&self, doc: &str, label: &str) -> Response {
        let path = format!("/api/documents/{doc}/versions");
        let body = serde_json::json!({ "label": label });
        Self::send(self.req(Method::POST, &path).json(&body)).await
    }

    pub async fn version(&self, doc: &str, n: i64) -> Response {
        let path = format!("/api/documents/{doc}/versions/{n}");
        Self::send(self.req(Method::GET, &path)).await
    }

    pub async fn version_state(&self, doc: &str, n: i64) -> Response {
        let path = format!("/api/documents/{doc}/versions/{n}/state");
        Self::send(self.req(Method::GET, &path)).await
    }

    pub async fn restore(&self, doc: &str, n: i64) -> Response {
        let path = format!("/api/documents/{doc}/versions/{n}/restore");
        Self::send(self.req(Method::POST, &path)).await
    }

    /// `POST .../versions/{n}/restore` naming who restores (`{"author": ...}`).
    pub async fn restore_by(&self, doc: &str, n: i64, author: &str) -> Response {
        let path = format!("/api/documents/{doc}/versions/{n}/restore");
        Self::send(
            self.req(Method::POST, &path)
                .json(&serde_json::json!({ "author": author })),
        )
        .await
    }

    /// `POST /api/tokens` with the given claims request (`doc`, `access`, `name`,
    /// `expires_in`).
    pub async fn mint_token(&self, request: Value) -> Response {
        Self::send(self.req(Method::POST, "/api/tokens").json(&request)).await
    }

    pub async fn healthz(&self) -> Response {
        Self::send(self.req(Method::GET, "/healthz")).await
    }

    pub async fn readyz(&self) -> Response {
        Self::send(self.req(Method::GET, "/readyz")).await
    }
}

/// Asserts the status and returns the JSON body.
pub async fn ok_json(res: Response, status: u16) -> Value {
    let got = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("body is not JSON: {body:?}"))
}
