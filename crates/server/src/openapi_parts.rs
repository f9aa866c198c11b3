//! What the OpenAPI document (`api::openapi`) says of many routes: the error response every
//! operation has, the `{doc}` segment, raw bytes. Apart from `api` so that every module
//! with routes (`share`, `ops`, `transport`) can use them without depending on `api`.

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// Every operation's `default` response: whatever else it refuses with, the body is an
/// [`crate::error::ErrorBody`] (the `json_errors` layer turns axum's own refusals into one too).
pub(crate) struct Refused;

impl utoipa::IntoResponses for Refused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        let response = ResponseBuilder::new()
            .description("Refused: the status says why in general, `error` in particular")
            .content("application/json", body)
            .build();
        BTreeMap::from([("default".to_string(), RefOr::T(response))])
    }
}

/// The `{doc}` segment of a document's routes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // described, never built: the edge's `Doc` extractor reads the segment
pub(crate) struct DocPath {
    /// The document's name: ASCII letters, digits and `-_.~:`, 1 to 128 bytes, not
    /// starting with a dot (anything else is refused with 400).
    #[param(
        pattern = "^[A-Za-z0-9_~:-][A-Za-z0-9._~:-]{0,127}$",
        example = "notes"
    )]
    doc: String,
}

/// Bytes as they are: a Yjs update or state (v1 encoding).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // described, never built
pub(crate) struct Binary(Vec<u8>);
