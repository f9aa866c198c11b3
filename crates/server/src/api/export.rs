//! `GET /api/documents/{doc}/export?format=txt|md|html|json|yjs[&version=N]`: a document,
//! or one of its versions, as plain text, Markdown, HTML, ProseMirror JSON or its Yjs state.

use axum::{
    extract::{Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{live::read_live, versions::load_version};
use crate::openapi_parts::{Binary, DocPath, Refused};
use crate::{
    edge::{Authorized, ClientIp, Credentials},
    error::ApiError,
    render::{Content, Fields},
    room::Request,
    state::SharedState,
    text,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `txt` (the default), `md`, `html`, `json` (ProseMirror) or `yjs` (the state).
    #[param(pattern = "^(txt|text|md|markdown|html|json|yjs)$")]
    format: Option<String>,
    /// A version's number, to export that version instead of the live document.
    #[param(value_type = Option<i64>, minimum = 1)]
    version: Option<String>,
}

/// One export format: its name in the query, file extension and media type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Markdown,
    Html,
    Json,
    Yjs,
}

impl Format {
    pub(crate) fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "txt" | "text" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "html" => Format::Html,
            "json" => Format::Json,
            "yjs" => Format::Yjs,
            _ => return None,
        })
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
            Format::Yjs => "yjs",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Yjs => "application/octet-stream",
        }
    }

    /// The rendering of `content` in this format (not for `Yjs`, which is the state).
    pub(crate) fn render(self, content: &Content) -> Vec<u8> {
        match self {
            Format::Text => content.plain_text().into_bytes(),
            Format::Markdown => content.markdown().into_bytes(),
            Format::Html => content.html().into_bytes(),
            Format::Json | Format::Yjs => {
                serde_json::to_vec(&content.prosemirror_json()).unwrap_or_default()
            }
        }
    }
}

#[utoipa::path(
    get, path = "/api/documents/{doc}/export", tag = "documents",
    summary = "The document (or a version) as a file: text, Markdown, HTML, JSON or Yjs",
    params(DocPath, ExportQuery),
    responses(
        (status = 200, description = "An attachment in the asked format",
            content(
                (String = "text/plain"),
                (String = "text/markdown"),
                (String = "text/html"),
                (Object = "application/json"),
                (Binary = "application/octet-stream"),
            )),
        Refused,
    )
)]
pub(super) async fn export(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    ClientIp(ip): ClientIp,
    creds: Credentials,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = Format::parse(query.format.as_deref().unwrap_or("txt"))
        .ok_or_else(|| ApiError::bad_request("format must be one of txt, md, html, json, yjs"))?;
    let fields = Fields::new(state.config.rich_text_fields.clone());
    let (body, suffix) = match &query.version {
        Some(n) => {
            let version = load_version(&state, &doc, n).await?;
            let old = text::new_doc();
            if !text::replay_bytes(&old, &version.state) {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the stored version does not decode",
                ));
            }
            let body = match format {
                Format::Yjs => version.state,
                _ => format.render(&Content::from_doc(&old, &fields)),
            };
            (body, format!("-v{}", version.info.version))
        }
        None => {
            // Loading the live document counts as one of the client's open documents.
            let _hold = crate::transport::open_document(&state, ip, &creds, &grant, &doc)?;
            let body = match format {
                Format::Yjs => read_live(&state, &doc, Request::State).await?,
                _ => format.render(&read_live(&state, &doc, Request::Content).await?),
            };
            (body, String::new())
        }
    };
    let disposition = format!(
        "attachment; filename=\"{doc}{suffix}.{}\"",
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.media_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            // An HTML export is shown as a page if opened directly: no scripts, no loads.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox".to_string(),
            ),
        ],
        body,
    )
        .into_response())
}
