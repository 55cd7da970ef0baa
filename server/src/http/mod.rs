//! The HTTP surface: [`app`] builds the router (API, tiles, metrics, the web page); `serve`
//! lives in the CLI so tests can drive the router in-process or on port 0.

pub mod admin;
pub mod error;
pub mod health;
pub mod locate;
pub mod params;
pub mod tiles;
pub mod units;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt as _;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult, ErrorBody};

use crate::metrics::{RequestLabels, RouteLabels};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gridwall API",
        description = "Geospatial command-center server: the 王 hierarchy (county → township → \
                       village → grid), location, vector tiles. Coordinates are WGS84 degrees; \
                       GeoJSON positions are [lng, lat]. Errors answer \
                       {\"error\": {\"code\", \"message\", \"details\"}}."
    ),
    tags(
        (name = "system", description = "health and metrics"),
        (name = "hierarchy", description = "the units of the 王 hierarchy"),
        (name = "tiles", description = "vector tiles")
    ),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes documented in the OpenAPI document, and the document itself.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(units::list))
        .routes(routes!(units::get_one))
        .routes(routes!(locate::locate))
        .routes(routes!(admin::import_hierarchy))
        .routes(routes!(tiles::tilejson))
        .routes(routes!(tiles::tile))
        .split_for_parts()
}

/// The OpenAPI 3 document of every route.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole application. `web_dir` is the built web page (`web/dist`), served at `/`.
pub fn app(state: AppState, web_dir: Option<PathBuf>) -> Router {
    let (api_routes, doc) = api();
    let doc = Arc::new(doc);
    let web = web_dir.map(Arc::new);
    api_routes
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { axum::Json(doc) }
            }),
        )
        .route("/metrics", get(metrics))
        .fallback(move |uri: Uri, req: Request| fallback(web.clone(), uri, req))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(300),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let text = state
        .metrics
        .render()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("metrics encoding: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::BadRequest {
        code: "method_not_allowed",
        message: format!("{} does not accept this method", uri.path()),
        details: serde_json::json!({}),
    }
}

/// Unknown `/api` and `/tiles` paths answer a JSON 404; everything else is the web page
/// (with `index.html` for client-side routes).
async fn fallback(web: Option<Arc<PathBuf>>, uri: Uri, req: Request) -> Response {
    let path = uri.path();
    let api_like = ["/api", "/tiles", "/metrics", "/ws"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    match web {
        Some(dir) if !api_like => {
            let index = dir.join("index.html");
            let serve = ServeDir::new(dir.as_path()).fallback(ServeFile::new(index));
            match serve.oneshot(req).await {
                Ok(mut resp) => {
                    resp.headers_mut().insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                    resp.map(Body::new)
                }
                Err(never) => match never {},
            }
        }
        _ => ApiError::not_found("not_found", format!("nothing at {path}")).into_response(),
    }
}

/// Counts requests and their latency by route template (never by raw path, to bound the
/// number of series).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}
