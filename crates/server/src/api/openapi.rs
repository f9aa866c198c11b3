//! The OpenAPI 3.1 description of every HTTP route, generated from the handlers'
//! `#[utoipa::path]` attributes and the types they return, served at
//! `GET /api/openapi.json` (docs/http-api.md). The test below checks it against the
//! route tables the router is built from (`route_table!`), both ways.

use std::sync::OnceLock;

use axum::{http::header, response::IntoResponse};
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use super::{changes, content, documents, export, live, tokens, versions, webhooks};
use crate::{error::ErrorBody, openapi_parts::Refused, ops, share, share_links, transport};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tandem",
        description = "A self-hostable real-time collaboration server for Yjs documents. \
            Credentials: a token (minted with the admin key, or a share link) as \
            `Authorization: Bearer ...` or `?token=`, or the admin key as a bearer. A server \
            without TANDEM_SECRET is open: no credential is needed. Every refusal on `/api/`, \
            `/ws/`, `/sse/`, `/poll/` and `/hocuspocus` is JSON: `{\"error\": \"...\"}`."
    ),
    paths(
        super::config,
        document,
        documents::list,
        documents::create,
        documents::show,
        documents::rename,
        documents::delete,
        live::text,
        live::state_bytes,
        live::apply_update,
        export::export,
        content::replace,
        changes::document,
        changes::all,
        versions::versions,
        versions::create_version,
        versions::version,
        versions::version_state,
        versions::restore,
        tokens::mint_token,
        share::share,
        share_links::list,
        share_links::revoke,
        share_links::short,
        webhooks::list,
        webhooks::create,
        webhooks::show,
        webhooks::delete,
        webhooks::test,
        webhooks::rotate,
        ops::healthz,
        ops::readyz,
        ops::metrics_text,
        transport::ws::upgrade,
        transport::hocuspocus::upgrade,
        transport::sse::open,
        transport::sse::send,
        transport::sse::close,
        transport::poll::open,
        transport::poll::receive,
        transport::poll::send,
        transport::poll::close,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Credentials, &OperationIds),
    security(("bearer" = []), ("token" = [])),
    tags(
        (name = "server", description = "What the server offers"),
        (name = "documents", description = "Documents: create, list, read, edit, delete"),
        (name = "versions", description = "A document's versions"),
        (name = "changes", description = "The change feed (docs/change-feed.md)"),
        (name = "access", description = "Tokens and share links"),
        (name = "webhooks", description = "Webhook endpoints (admin key)"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "transports", description = "How editors sync: WebSocket, SSE, long polling"),
    )
)]
pub(crate) struct ApiDoc;

/// The two ways to present a credential, named `bearer` and `token` in `security`.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token (a JWT signed with TANDEM_SECRET), or the admin key \
                         (TANDEM_ADMIN_KEY) for admin routes",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A token in the query, for clients that cannot set headers (WebSocket, EventSource)",
            ))),
        );
    }
}

/// Operation ids from the method and path (`get_api_documents_doc`): unique by
/// construction, where handler names (`open`, `send`, `delete`) repeat across modules.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let words: Vec<&str> = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let ops = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    op.operation_id = Some(format!("{method}_{}", words.join("_")));
                }
            }
        }
    }
}

/// The document, rendered once: it does not change while the server runs.
fn rendered() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        link_fields(&mut doc);
        doc.to_string()
    })
}

/// utoipa 5 writes a response link's `operationId` as `operation_id` (and `operationRef` as
/// `operation_ref`), which OpenAPI tools reject; renamed here.
fn link_fields(doc: &mut serde_json::Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op["responses"].as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
            ] {
                if let Some(value) = link.remove(from) {
                    link.insert(to.to_string(), value);
                }
            }
        }
    }
}

#[utoipa::path(
    get, path = "/api/openapi.json", tag = "server",
    summary = "This document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json",
            body = Object),
        Refused,
    ),
    security(())
)]
pub(super) async fn document() -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/json")], rendered()).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every route the router is built from, as (method, path).
    fn served() -> BTreeSet<(String, String)> {
        [
            super::super::ROUTES,
            share::ROUTES,
            share_links::ROUTES,
            transport::ROUTES,
            ops::ROUTES,
        ]
        .concat()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
    }

    fn described() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(rendered()).unwrap();
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((method.clone(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_is_described_and_every_description_is_served() {
        let (served, described) = (served(), described());
        let undocumented: Vec<_> = served.difference(&described).collect();
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the OpenAPI document (add #[utoipa::path] and list the \
             handler in ApiDoc's paths): {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "the OpenAPI document describes routes the router does not serve: {unserved:?}"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_its_schemas() {
        let doc: serde_json::Value = serde_json::from_str(rendered()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap().to_string();
                assert!(ids.insert(id.clone()), "operationId {id} is used twice");
            }
        }
        // Every response link names an operation that exists.
        let mut links = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for response in op["responses"].as_object().unwrap().values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().expect("a link's operationId");
                        assert!(ids.contains(target), "a link to unknown operation {target}");
                        links += 1;
                    }
                }
            }
        }
        assert!(
            links > 0,
            "the document has response links (schemathesis follows them)"
        );
        // Every `$ref` points at a schema the document holds.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = rendered();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
    }
}
