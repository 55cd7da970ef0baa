//! Prometheus metrics, held in the state (no global recorder), rendered at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route template (`/api/units/{code}`), never the raw path.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Labels of one latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route template.
    pub route: String,
}

/// Labels of the per-level unit counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LevelLabels {
    /// `city`, `county`, `township`, `village`, `grid`.
    pub level: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~3.3 s
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// All metrics of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by route, seconds.
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Units in the loaded hierarchy by level.
    pub hierarchy_units: Family<LevelLabels, Gauge>,
    /// The loaded hierarchy version.
    pub hierarchy_version: Gauge,
    /// Heap bytes of the loaded hierarchy and its H3 index.
    pub hierarchy_bytes: Gauge,
    /// Tiles answered from the cache.
    pub tile_cache_hits: Counter,
    /// Tiles rendered by PostGIS.
    pub tile_cache_misses: Counter,
    /// Positions accepted by ingest.
    pub positions_accepted: Counter,
    /// Positions rejected by ingest (per item).
    pub positions_rejected: Counter,
    /// Resources on the live map (set when rendered).
    pub live_resources: Gauge,
    /// Points waiting in the track buffer (set when rendered).
    pub track_buffer_points: Gauge,
    /// Points committed to `positions` since start (set when rendered).
    pub track_points_written: Gauge,
    /// Failed track writes since start, each retried (set when rendered).
    pub track_write_failures: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gridwall");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let hierarchy_units = Family::<LevelLabels, Gauge>::default();
        registry.register(
            "hierarchy_units",
            "Units in the loaded hierarchy by level",
            hierarchy_units.clone(),
        );
        let hierarchy_version = Gauge::default();
        registry.register(
            "hierarchy_version",
            "Version of the loaded hierarchy",
            hierarchy_version.clone(),
        );
        let hierarchy_bytes = Gauge::default();
        registry.register(
            "hierarchy_heap_bytes",
            "Heap bytes of the loaded hierarchy and its H3 index",
            hierarchy_bytes.clone(),
        );
        let tile_cache_hits = Counter::default();
        registry.register(
            "tile_cache_hits",
            "Vector tiles answered from the cache",
            tile_cache_hits.clone(),
        );
        let tile_cache_misses = Counter::default();
        registry.register(
            "tile_cache_misses",
            "Vector tiles rendered by PostGIS",
            tile_cache_misses.clone(),
        );
        let positions_accepted = Counter::default();
        registry.register(
            "positions_accepted",
            "Positions accepted by ingest",
            positions_accepted.clone(),
        );
        let positions_rejected = Counter::default();
        registry.register(
            "positions_rejected",
            "Positions rejected by ingest (per item)",
            positions_rejected.clone(),
        );
        let live_resources = Gauge::default();
        registry.register(
            "live_resources",
            "Workers and vehicles on the live map",
            live_resources.clone(),
        );
        let track_buffer_points = Gauge::default();
        registry.register(
            "track_buffer_points",
            "Points waiting in the track buffer for the database",
            track_buffer_points.clone(),
        );
        let track_points_written = Gauge::default();
        registry.register(
            "track_points_written",
            "Points committed to the positions table since start",
            track_points_written.clone(),
        );
        let track_write_failures = Gauge::default();
        registry.register(
            "track_write_failures",
            "Failed track writes since start (each retried)",
            track_write_failures.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            hierarchy_units,
            hierarchy_version,
            hierarchy_bytes,
            tile_cache_hits,
            tile_cache_misses,
            positions_accepted,
            positions_rejected,
            live_resources,
            track_buffer_points,
            track_points_written,
            track_write_failures,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
