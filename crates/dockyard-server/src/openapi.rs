//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Dockyard API", description = "The API of Dockyard, the self-hosted developer cloud. Errors are application/problem+json with a stable `code`."),
    modifiers(&Security),
    security(("session" = []), ("token" = [])),
    tags(
        (name = "auth", description = "First-run setup and sign-in"),
        (name = "account", description = "The caller's profile, sessions and API tokens"),
        (name = "orgs", description = "Organizations, members and their audit log"),
        (name = "projects", description = "Projects"),
        (name = "files", description = "A project's workspace files"),
        (name = "admin", description = "Instance administration"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("dockyard_session"))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("dyt_…").build()),
        );
    }
}

/// The whole document: the annotations of every route in `routes::api()` under
/// [`ApiDoc`]'s info, tags and security schemes.
pub fn document(routes: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes);
    // axum writes a catch-all segment as `{*path}`; OpenAPI knows it as `{path}`.
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths.into_iter().map(|(path, item)| (path.replace("{*", "{"), item)).collect();
    doc
}

/// The document as pretty JSON, for `dockyard openapi` and the web client's generator.
pub fn openapi_json() -> String {
    let (_, routes) = crate::routes::api().split_for_parts();
    document(routes).to_pretty_json().unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
}

#[cfg(test)]
mod tests {
    /// The web app generates its typed client from a committed copy of the
    /// document; this fails when that copy is stale. Compared as parsed JSON, so
    /// formatting does not matter.
    #[test]
    fn the_web_apps_copy_of_the_document_is_current() {
        let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/src/api/openapi.json");
        let committed = std::fs::read_to_string(committed_path).unwrap_or_else(|error| {
            panic!("cannot read {committed_path} ({error}); run scripts/gen-api.sh to write it")
        });
        let committed: serde_json::Value = serde_json::from_str(&committed)
            .unwrap_or_else(|error| panic!("{committed_path} is not JSON ({error}); run scripts/gen-api.sh"));
        let current: serde_json::Value =
            serde_json::from_str(&super::openapi_json()).expect("the generated document is JSON");
        assert!(
            committed == current,
            "web/src/api/openapi.json differs from the API's current OpenAPI document; run scripts/gen-api.sh \
             (and commit the result) so the web app's typed client matches the server"
        );
    }

    /// A parameter documented as `in: path` must be a `{name}` of its route, and every
    /// `{name}` documented: query parameters listed as path parameters made the typed
    /// client unable to send them (utoipa's `IntoParams` needs `parameter_in = Query`).
    #[test]
    fn path_parameters_are_exactly_the_routes_placeholders() {
        let document: serde_json::Value =
            serde_json::from_str(&super::openapi_json()).expect("the generated document is JSON");
        let mut wrong = Vec::new();
        for (route, item) in document["paths"].as_object().expect("paths") {
            let placeholders: Vec<&str> =
                route.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}')).collect();
            for (method, operation) in item.as_object().expect("path item") {
                let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
                let in_path: Vec<String> = parameters
                    .iter()
                    .filter(|parameter| parameter["in"] == "path")
                    .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
                    .collect();
                for name in &in_path {
                    if !placeholders.contains(&name.as_str()) {
                        wrong.push(format!("{method} {route}: `{name}` is documented in the path but is not in it"));
                    }
                }
                for placeholder in &placeholders {
                    if !in_path.iter().any(|name| name == placeholder) {
                        wrong.push(format!("{method} {route}: `{{{placeholder}}}` is not documented"));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
