//! The HTTP surface: [`app`] builds the router (API, tiles, metrics, the web page); `serve`
//! lives in the CLI so tests can drive the router in-process or on port 0.

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod coverage;
pub mod devices;
pub mod error;
pub mod extract;
pub mod health;
pub mod input;
pub mod listen;
pub mod locate;
pub mod params;
pub mod positions;
pub mod resources;
pub mod security;
pub mod shape;
pub mod tiles;
pub mod units;
pub mod users;
pub mod vehicles;
pub mod workers;
pub mod ws;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt as _;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::unit_ref::UnitRef;
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
        (name = "auth", description = "login, logout, sessions"),
        (name = "accounts", description = "users and the audit log (admins)"),
        (name = "hierarchy", description = "the units of the 王 hierarchy"),
        (name = "workers", description = "grid workers"),
        (name = "vehicles", description = "patrol cars and other tracked vehicles"),
        (name = "devices", description = "the phones that report positions: device tokens and \
                                          OsmAnd identifiers"),
        (name = "tiles", description = "vector tiles"),
        (name = "cases", description = "cases (事件) from report to follow-up, and dispatch"),
        (name = "alerts", description = "early warning (预警): alerts and their rules"),
        (name = "coverage", description = "patrol coverage, density and KPIs for leaders"),
        (name = "live", description = "the live websocket")
    ),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the token from POST /api/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a device token (gwd_…) issued for a worker's phone"))
                    .build(),
            ),
        );
        // Everything needs a session unless its path says otherwise.
        openapi.security = Some(vec![
            SecurityRequirement::new("session", Vec::<String>::new()),
            SecurityRequirement::new("session_cookie", Vec::<String>::new()),
        ]);
    }
}

/// Largest JSON body a route takes unless it says otherwise.
pub const MAX_JSON_BODY_BYTES: usize = 1 << 20;
/// Time a request may take unless its route says otherwise.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a hierarchy import may take.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

/// The routes documented in the OpenAPI document, and the document itself. Every route of
/// the API is here, so the document is also the route list the auth tests walk.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let timeout = |limit: Duration| {
        middleware::from_fn(move |req: Request, next: Next| shape::within(limit, req, next))
    };
    let import = OpenApiRouter::new()
        .routes(routes!(admin::import_hierarchy))
        .layer(timeout(IMPORT_TIMEOUT));
    let ingest = OpenApiRouter::new()
        .routes(routes!(positions::post_positions))
        .routes(routes!(positions::osmand_post, positions::osmand_get))
        .layer(DefaultBodyLimit::max(positions::MAX_INGEST_BODY_BYTES))
        .layer(timeout(REQUEST_TIMEOUT));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(openapi_json))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get_one, users::update))
        .routes(routes!(users::reset_password))
        .routes(routes!(audit::list))
        .routes(routes!(units::list))
        .routes(routes!(units::search))
        .routes(routes!(units::get_one))
        .routes(routes!(locate::locate))
        .routes(routes!(workers::list, workers::create))
        .routes(routes!(workers::get_one, workers::update))
        .routes(routes!(workers::list_devices, workers::issue_device))
        .routes(routes!(vehicles::list, vehicles::create))
        .routes(routes!(vehicles::get_one, vehicles::update))
        .routes(routes!(vehicles::list_devices, vehicles::issue_device))
        .routes(routes!(devices::revoke_device))
        .routes(routes!(devices::rotate_device))
        .routes(routes!(devices::whoami))
        .routes(routes!(tiles::tilejson))
        .routes(routes!(tiles::tile))
        .routes(routes!(positions::track))
        .routes(routes!(positions::clear_sos))
        .routes(routes!(cases::list_categories))
        .routes(routes!(cases::put_category))
        .routes(routes!(cases::list, cases::create))
        .routes(routes!(cases::get_one))
        .routes(routes!(cases::transition))
        .routes(routes!(cases::candidates))
        .routes(routes!(cases::my_cases))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
        .routes(routes!(alerts::rules))
        .routes(routes!(alerts::put_rule))
        .routes(routes!(coverage::get_coverage))
        .routes(routes!(coverage::density))
        .routes(routes!(coverage::kpi))
        .routes(routes!(ws::upgrade))
        .layer(timeout(REQUEST_TIMEOUT))
        .merge(import)
        .merge(ingest)
        .split_for_parts()
}

/// Brings the live picture up to date after a committed change to a worker or vehicle (created,
/// renamed, moved, duty, datum, disabled). The change is committed whatever happens here, so a
/// failure is logged rather than answered: the directory then catches up on the next change or
/// restart.
pub(crate) async fn refresh_live(state: &AppState, resource_id: i64) {
    // A disabled resource's devices must stop at once, not when their cache entry expires.
    state.auth.devices.invalidate_all();
    let loaded = state.hierarchy.get();
    if let Err(e) = state
        .live
        .refresh_resource(&state.pool, loaded.as_deref(), resource_id)
        .await
    {
        tracing::error!(error = %e, resource_id, "live directory not refreshed after a change");
    }
}

/// This document (OpenAPI 3).
#[utoipa::path(get, path = "/api/openapi.json", tag = "system",
    responses((status = 200, description = "the OpenAPI document"),
        (status = 401, body = ErrorBody)))]
async fn openapi_json(
    _me: crate::auth::Principal,
    axum::Extension(doc): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> axum::Json<Arc<utoipa::openapi::OpenApi>> {
    axum::Json(doc)
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
    let cors = security::cors(&state.auth.config.cors_origins);
    let hsts = state.auth.config.secure_cookies;
    let router = api_routes
        .route("/metrics", get(metrics))
        .fallback(move |uri: Uri, req: Request| fallback(web.clone(), uri, req))
        .method_not_allowed_fallback(shape::method_not_allowed)
        .layer(axum::Extension(doc))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(middleware::from_fn(move |req, next| {
            security::headers(hsts, req, next)
        }))
        // Inside compression, so that it reads the framework's plain-text errors as written.
        .layer(middleware::from_fn(shape::json_errors))
        // The fastest level: the answers are JSON and GeoJSON on a LAN, where deflate's
        // default level cost ingest about a tenth of the server's CPU for a few % of bytes.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    // A 5xx is logged where it is made (`http/error.rs`: the cause, summarised when it
    // repeats); the trace layer's own line per failed response would flood the log in an
    // outage, so it only says it at debug level.
    let trace =
        TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG));
    router.layer(trace).with_state(state)
}

#[allow(clippy::similar_names, reason = "`stats` and `state` read apart")]
async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let stats = &state.live.tracks.stats;
    let m = &state.metrics;
    m.live_resources.set(gauge(
        state
            .live
            .read(state.hierarchy.get().as_deref())
            .index()
            .len(),
    ));
    m.track_buffer_points.set(gauge(state.live.tracks.queued()));
    m.track_points_written.set(gauge(
        stats.written.load(std::sync::atomic::Ordering::Relaxed),
    ));
    m.track_write_failures.set(gauge(
        stats.failures.load(std::sync::atomic::Ordering::Relaxed),
    ));
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
                    // Vite names assets by content hash: cache them for good; the page itself
                    // must be revalidated so it always points at the current assets.
                    let cache = if path.starts_with("/assets/") {
                        "public, max-age=31536000, immutable"
                    } else {
                        "no-cache"
                    };
                    resp.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
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
