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
