//! Each module that serves HTTP routes declares them once, in a [`route_table!`]: the
//! router is built from that table and the OpenAPI document's test reads the same table,
//! so a route cannot be served without the test seeing it (`api::openapi`).

/// `route_table! { get "/path" => handler, post "/path" => other, ... }` defines
/// `pub(crate) const ROUTES: &[(&str, &str)]` (method, path) and `fn table()`, the router
/// serving exactly those routes. Routes on one path with different methods are merged by
/// axum.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// What `table()` serves, as `(method, path)`; every one must be in the OpenAPI
        /// document. Read by that test only.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn table() -> axum::Router<crate::state::SharedState> {
            axum::Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

pub(crate) use route_table;
