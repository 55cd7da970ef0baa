//! The simulator's and the load generator's HTTP client of the public API: login, the units
//! with their outlines, workers, vehicles, device tokens, and `POST /api/positions` with a
//! device token, exactly as a phone calls it. Nothing here reaches into the server's code:
//! it must work against any Gridwall server URL.

use std::fmt::Write as _;
use std::time::Duration;

use geo::MultiPolygon;
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Result, SimError};

/// Where the phone says it is, and when: one item of a `POST /api/positions` batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fix {
    /// The worker or vehicle (resource id).
    pub resource: i64,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lng: f64,
    /// Fix time, milliseconds since the Unix epoch.
    pub at: i64,
    /// Horizontal accuracy, metres.
    pub accuracy_m: f32,
    /// Speed, m/s.
    pub speed_mps: f32,
    /// Course, degrees clockwise from north.
    pub heading_deg: f32,
    /// Battery, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<f32>,
    /// The worker pressed SOS with this fix.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sos: bool,
}

/// A live SOS alert, as the simulated dispatcher needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SosAlert {
    /// The alert.
    pub id: i64,
    /// Acknowledged (else open).
    pub acknowledged: bool,
    /// The resource that raised it.
    pub resource: i64,
    /// Its title (names the worker).
    pub title: String,
    /// When it was first raised.
    pub raised_at: chrono::DateTime<chrono::Utc>,
}

/// What became of one `POST /api/positions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Answered 200: this many accepted and rejected.
    Done {
        /// Points accepted.
        accepted: u64,
        /// Points rejected (each with a reason the simulator does not need).
        rejected: u64,
    },
    /// 503: the server's track buffer is full; send the same points again after this long.
    Busy(Duration),
    /// 401: the token is unknown or revoked.
    Unauthorized,
    /// Anything else (connection error, timeout, another status), for the log.
    Failed(String),
}

/// A unit with its outline, as `GET /api/units` gives it.
#[derive(Debug, Clone)]
pub struct UnitShape {
    pub code: String,
    pub name: String,
    /// The parent's code.
    pub parent: Option<String>,
    /// Outline, x = lng, y = lat.
    pub area: MultiPolygon<f64>,
}

/// Kinds of tracked resources, with the API path of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A grid worker (`/api/workers`).
    Worker,
    /// A vehicle (`/api/vehicles`).
    Vehicle,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Worker => "workers",
            Self::Vehicle => "vehicles",
        }
    }
}

/// A resource as listed by the API (only what the simulator needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Resource id.
    pub id: i64,
    pub name: String,
    /// Home unit code (a worker's grid, a vehicle's unit).
    pub unit: String,
    /// Plate (vehicles).
    pub plate: Option<String>,
    pub disabled: bool,
}

/// A device token just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Device id.
    pub device: i64,
    /// Bearer token `gwd_…`.
    pub token: String,
}

/// An HTTP client with keep-alive, meant to be shared (it is a pool of connections).
///
/// # Errors
///
/// The TLS-less client cannot be built (it always can on supported platforms).
pub fn http_client(max_idle_per_host: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("gridwall-simulate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SimError::Setup(format!("HTTP client: {e}")))
}

/// A logged-in API session (admin or dispatcher) for setting things up.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    session: String,
}

fn error_message(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => (c.to_owned(), m.to_owned()),
        _ => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    }
}

/// The `Retry-After` of a response in seconds (1 s when absent or not a number of seconds).
fn retry_after(headers: &header::HeaderMap) -> Duration {
    let s = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(s.clamp(1, 300))
}

impl Api {
    /// Logs in (bearer mode) at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    ///
    /// The server cannot be reached or refuses the credentials.
    pub async fn login(
        http: reqwest::Client,
        base: &str,
        username: &str,
        password: &str,
    ) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        let mut api = Self {
            http,
            base,
            session: String::new(),
        };
        let v = api
            .call(
                Method::POST,
                "/api/auth/login",
                Some(&json!({"username": username, "password": password, "mode": "bearer"})),
            )
            .await?;
        v["token"]
            .as_str()
            .ok_or_else(|| SimError::Setup("the login answer has no token".into()))?
            .clone_into(&mut api.session);
        Ok(api)
    }

    /// An API session from a token already held (e.g. by a test).
    #[must_use]
    pub fn with_session(http: reqwest::Client, base: &str, session: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            session: session.to_owned(),
        }
    }

    /// The base URL, without a trailing slash.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The shared HTTP client.
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The session token (a dispatcher or admin may post positions for any resource in scope).
    #[must_use]
    pub fn session(&self) -> &str {
        &self.session
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        self.call_keyed(method, path, body, None).await
    }

    async fn call_keyed(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if !self.session.is_empty() {
            req = req.bearer_auth(&self.session);
        }
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| SimError::Connect {
            url: url.clone(),
            source: e,
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| SimError::Connect {
            url: url.clone(),
            source: e,
        })?;
        if !status.is_success() {
            let (code, message) = error_message(&bytes);
            return Err(SimError::Api {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                code,
                message,
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| SimError::Setup(format!("{path}: {e}")))
    }

    /// The units of one level (`grid`, `township`, …) of the session's territory, with their
    /// outlines; units whose geometry cannot be read are left out with a warning.
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn units(&self, level: &str) -> Result<Vec<UnitShape>> {
        let fc = self
            .call(Method::GET, &format!("/api/units?level={level}"), None)
            .await?;
        let features = fc["features"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(features.len());
        for f in &features {
            let p = &f["properties"];
            let (Some(code), Some(name)) = (p["code"].as_str(), p["name"].as_str()) else {
                continue;
            };
            match crate::outline::multipolygon(&f["geometry"]) {
                Ok(area) => out.push(UnitShape {
                    code: code.to_owned(),
                    name: name.to_owned(),
                    parent: p["parent"].as_str().map(str::to_owned),
                    area,
                }),
                Err(e) => tracing::warn!(unit = code, "unit outline unreadable: {e}"),
            }
        }
        Ok(out)
    }

    /// Every resource of a kind whose name or plate contains `q`, disabled ones included.
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn list(&self, kind: Kind, q: &str) -> Result<Vec<Listed>> {
        const PAGE: usize = 10_000;
        let mut out = Vec::new();
        loop {
            let path = format!(
                "/api/{}?q={}&include_disabled=true&limit={PAGE}&offset={}",
                kind.path(),
                encode(q),
                out.len()
            );
            let v = self.call(Method::GET, &path, None).await?;
            let items = v[kind.path()].as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items.iter().filter_map(listed));
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// Creates a grid worker on duty in `grid` with these skills; returns its id.
    ///
    /// # Errors
    ///
    /// The request fails or is refused.
    pub async fn create_worker(&self, name: &str, grid: &str, skills: &[&str]) -> Result<i64> {
        let v = self
            .call(
                Method::POST,
                "/api/workers",
                Some(&json!({"name": name, "grid": grid, "on_duty": true,
                             "skills": skills})),
            )
            .await?;
        id_of(&v)
    }

    /// Creates a patrol vehicle on duty in `unit`; returns its id.
    ///
    /// # Errors
    ///
    /// The request fails or is refused (409 when the plate is taken).
    pub async fn create_vehicle(&self, name: &str, plate: &str, unit: &str) -> Result<i64> {
        let v = self
            .call(
                Method::POST,
                "/api/vehicles",
                Some(
                    &json!({"name": name, "plate": plate, "vehicle_kind": "patrol",
                             "unit": unit, "on_duty": true}),
                ),
            )
            .await?;
        id_of(&v)
    }

    /// Enables a resource and puts it on duty.
    ///
    /// # Errors
    ///
    /// The request fails or is refused.
    pub async fn enable(&self, kind: Kind, id: i64) -> Result<()> {
        self.call(
            Method::PATCH,
            &format!("/api/{}/{id}", kind.path()),
            Some(&json!({"disabled": false, "on_duty": true})),
        )
        .await
        .map(drop)
    }

    /// Issues a device token for a resource.
    ///
    /// # Errors
    ///
    /// The request fails or is refused (409 `device_limit` when it has the most allowed).
    pub async fn issue_device(&self, kind: Kind, id: i64, label: &str) -> Result<Issued> {
        let v = self
            .call(
                Method::POST,
                &format!("/api/{}/{id}/devices", kind.path()),
                Some(&json!({ "label": label })),
            )
            .await?;
        match (v["device"]["id"].as_i64(), v["token"].as_str()) {
            (Some(device), Some(token)) => Ok(Issued {
                device,
                token: token.to_owned(),
            }),
            _ => Err(SimError::Setup(format!(
                "issuing a device for {} {id}: no device id or token in the answer",
                kind.path()
            ))),
        }
    }

    /// The active (not revoked) devices of a resource with this label: (device id, label).
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn active_devices(&self, kind: Kind, id: i64) -> Result<Vec<(i64, String)>> {
        let v = self
            .call(
                Method::GET,
                &format!("/api/{}/{id}/devices", kind.path()),
                None,
            )
            .await?;
        Ok(v["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["revoked_at"].is_null())
            .filter_map(|d| Some((d["id"].as_i64()?, d["label"].as_str()?.to_owned())))
            .collect())
    }

    /// Revokes a device token.
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn revoke_device(&self, device: i64) -> Result<()> {
        self.call(Method::DELETE, &format!("/api/devices/{device}"), None)
            .await
            .map(drop)
    }
}

impl Api {
    /// Registers a case (`POST /api/cases`) with an `Idempotency-Key`, so that a retry after
    /// a lost answer gets the same case back instead of a second one.
    ///
    /// # Errors
    ///
    /// The request fails or is refused.
    pub async fn create_case(&self, body: &Value, idempotency_key: &str) -> Result<CaseBrief> {
        let v = self
            .call_keyed(
                Method::POST,
                "/api/cases",
                Some(body),
                Some(idempotency_key),
            )
            .await?;
        brief(v)
    }

    /// One case (`GET /api/cases/{id}`; its history is not read).
    ///
    /// # Errors
    ///
    /// The request fails (404 when the caller does not see it).
    pub async fn case(&self, id: i64) -> Result<CaseBrief> {
        brief(
            self.call(Method::GET, &format!("/api/cases/{id}"), None)
                .await?,
        )
    }

    /// A page of cases (`GET /api/cases?{query}`, the query already encoded).
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn cases(&self, query: &str) -> Result<Vec<CaseBrief>> {
        let v = self
            .call(Method::GET, &format!("/api/cases?{query}"), None)
            .await?;
        briefs(&v["cases"])
    }

    /// Live SOS alerts (`GET /api/alerts?kind=sos&status=live`): id, status, the resource and
    /// when it was raised.
    ///
    /// # Errors
    ///
    /// The request fails or the answer is not a list of alerts.
    pub async fn sos_alerts(&self) -> Result<Vec<SosAlert>> {
        let v = self
            .call(
                Method::GET,
                "/api/alerts?kind=sos&status=live&limit=500",
                None,
            )
            .await?;
        let items = v["alerts"]
            .as_array()
            .ok_or_else(|| SimError::Setup("GET /api/alerts: no alerts list".into()))?;
        Ok(items
            .iter()
            .filter_map(|a| {
                Some(SosAlert {
                    id: a["id"].as_i64()?,
                    acknowledged: a["status"].as_str()? == "acknowledged",
                    resource: a["entity_id"].as_str()?.parse().ok()?,
                    title: a["title"].as_str().unwrap_or_default().to_owned(),
                    raised_at: a["raised_at"].as_str()?.parse().ok()?,
                })
            })
            .collect())
    }

    /// Acknowledges an alert (`POST /api/alerts/{id}/acknowledge`).
    ///
    /// # Errors
    ///
    /// The request fails (409 when it is no longer open).
    pub async fn acknowledge_alert(&self, id: i64, note: &str) -> Result<()> {
        let body = json!({ "note": note });
        self.call(
            Method::POST,
            &format!("/api/alerts/{id}/acknowledge"),
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// Clears a resource's SOS (`DELETE /api/resources/{id}/sos`), which resolves its alert.
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn clear_sos(&self, resource: i64) -> Result<()> {
        self.call(
            Method::DELETE,
            &format!("/api/resources/{resource}/sos"),
            None,
        )
        .await
        .map(drop)
    }

    /// The caller's own cases (`GET /api/me/cases`: a worker's phone), still to handle.
    ///
    /// # Errors
    ///
    /// The request fails.
    pub async fn my_cases(&self) -> Result<Vec<CaseBrief>> {
        let v = self.call(Method::GET, "/api/me/cases", None).await?;
        briefs(&v["cases"])
    }

    /// The ids of the dispatch candidates of a case, best first
    /// (`GET /api/cases/{id}/candidates`).
    ///
    /// # Errors
    ///
    /// The request fails (409 `case_not_open`).
    pub async fn candidates(&self, id: i64, k: u32, radius_m: u32) -> Result<Vec<i64>> {
        let v = self
            .call(
                Method::GET,
                &format!("/api/cases/{id}/candidates?k={k}&radius_m={radius_m}"),
                None,
            )
            .await?;
        Ok(v["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_i64())
            .collect())
    }

    /// Moves a case on (`POST /api/cases/{id}/transition`); answers the case after it.
    ///
    /// # Errors
    ///
    /// The request fails or is refused (409 `version_conflict`, `illegal_transition`, …).
    pub async fn transition(&self, id: i64, t: &Transition<'_>) -> Result<CaseBrief> {
        let mut body = json!({"action": t.action, "version": t.version});
        if let Some(n) = t.note {
            body["note"] = json!(n);
        }
        if let Some(a) = t.assignee {
            body["assignee"] = json!(a);
        }
        if let Some(p) = t.position {
            body["position"] = json!(p);
        }
        brief(
            self.call(
                Method::POST,
                &format!("/api/cases/{id}/transition"),
                Some(&body),
            )
            .await?,
        )
    }
}

/// A transition to ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    /// `accept`, `dispatch`, `take`, `start`, `resolve`, …
    pub action: &'a str,
    /// The case version seen.
    pub version: i32,
    /// Note (required by some actions).
    pub note: Option<&'a str>,
    /// The worker to dispatch to.
    pub assignee: Option<i64>,
    /// Where the actor is, `[lng, lat]` WGS84.
    pub position: Option<[f64; 2]>,
}

impl<'a> Transition<'a> {
    /// A transition with no note, assignee or position.
    #[must_use]
    pub fn new(action: &'a str, version: i32) -> Self {
        Self {
            action,
            version,
            note: None,
            assignee: None,
            position: None,
        }
    }
}

/// What the simulator reads of a case.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CaseBrief {
    /// Case id.
    pub id: i64,
    /// `NT-20261126-000123`.
    pub number: String,
    /// `reported`, `accepted`, `dispatched`, `in_progress`, …
    pub status: String,
    /// Optimistic version.
    pub version: i32,
    /// `[lng, lat]` WGS84.
    pub position: [f64; 2],
    /// The assigned worker.
    #[serde(default)]
    pub assignee: Option<Assignee>,
    /// When the assigned worker took it (接单).
    #[serde(default)]
    pub taken_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// An assigned worker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Assignee {
    /// `resources.id`.
    pub id: i64,
}

fn brief(v: Value) -> Result<CaseBrief> {
    serde_json::from_value(v).map_err(|e| SimError::Setup(format!("a case answer: {e}")))
}

fn briefs(v: &Value) -> Result<Vec<CaseBrief>> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| brief(c.clone()))
        .collect()
}

/// Posts a batch of fixes with a bearer token (a device token, or a session for
/// integrations), as a phone does.
pub async fn post_positions(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    fixes: &[Fix],
) -> Posted {
    let resp = http
        .post(format!("{base}/api/positions"))
        .bearer_auth(token)
        .json(&json!({ "positions": fixes }))
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return Posted::Failed(error_chain(&e)),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Posted::Failed(error_chain(&e)),
    };
    match status {
        StatusCode::OK => {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match (v["accepted"].as_u64(), v["rejected"].as_u64()) {
                (Some(accepted), Some(rejected)) => Posted::Done { accepted, rejected },
                _ => Posted::Failed("200 without accepted/rejected counts".into()),
            }
        }
        // Every item refused: the answer's details carry the counts; never worth re-sending.
        StatusCode::UNPROCESSABLE_ENTITY if error_message(&bytes).0 == "all_rejected" => {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Posted::Done {
                accepted: 0,
                rejected: v["error"]["details"]["rejected"]
                    .as_u64()
                    .unwrap_or(fixes.len() as u64),
            }
        }
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
            Posted::Busy(retry_after(&headers))
        }
        StatusCode::UNAUTHORIZED => Posted::Unauthorized,
        s => Posted::Failed(format!("{s}: {}", error_message(&bytes).1)),
    }
}

/// An error with its causes, on one line (reqwest's own message hides the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

fn id_of(v: &Value) -> Result<i64> {
    v["id"]
        .as_i64()
        .ok_or_else(|| SimError::Setup("the created resource has no id".into()))
}

/// One listed worker or vehicle; the home unit is `grid` (workers) or `unit` (vehicles),
/// either `{code, name}` or a bare code.
fn listed(v: &Value) -> Option<Listed> {
    let unit = ["grid", "unit"].iter().find_map(|k| {
        v[*k]["code"]
            .as_str()
            .or_else(|| v[*k].as_str())
            .map(str::to_owned)
    })?;
    Some(Listed {
        id: v["id"].as_i64()?,
        name: v["name"].as_str()?.to_owned(),
        unit,
        plate: v["plate"].as_str().map(str::to_owned),
        // Workers say `disabled`, vehicles `disabled_at`.
        disabled: v["disabled"]
            .as_bool()
            .unwrap_or_else(|| !v["disabled_at"].is_null()),
    })
}

/// Percent-encodes a query value (UTF-8 bytes outside the unreserved set).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_workers_and_vehicles_alike() {
        let w = json!({"id": 4, "name": "模拟网格员·甲", "grid": {"code": "320612001001001",
                       "name": "甲"}, "disabled": false});
        assert_eq!(
            listed(&w),
            Some(Listed {
                id: 4,
                name: "模拟网格员·甲".into(),
                unit: "320612001001001".into(),
                plate: None,
                disabled: false
            })
        );
        let v = json!({"id": 9, "name": "车", "plate": "SIM-320612001", "unit": "320612001"});
        let l = listed(&v).expect("vehicle");
        assert_eq!(l.unit, "320612001");
        assert_eq!(l.plate.as_deref(), Some("SIM-320612001"));
        assert_eq!(listed(&json!({"id": 1})), None);
    }

    #[test]
    fn encodes_chinese_query_values() {
        assert_eq!(encode("模拟"), "%E6%A8%A1%E6%8B%9F");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn reads_retry_after() {
        let mut h = header::HeaderMap::new();
        assert_eq!(retry_after(&h), Duration::from_secs(1));
        h.insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Duration::from_secs(7));
    }

    #[test]
    fn a_fix_serialises_as_the_ingest_contract_says() {
        let f = Fix {
            resource: 3,
            lat: 32.0,
            lng: 120.9,
            at: 1_764_144_000_000,
            accuracy_m: 5.0,
            speed_mps: 1.25,
            heading_deg: 90.0,
            battery: Some(80.5),
            sos: false,
        };
        assert_eq!(
            serde_json::to_value(f).expect("json"),
            json!({"resource": 3, "lat": 32.0, "lng": 120.9, "at": 1_764_144_000_000_i64,
                   "accuracy_m": 5.0, "speed_mps": 1.25, "heading_deg": 90.0, "battery": 80.5})
        );
        let sos = Fix { sos: true, ..f };
        assert_eq!(serde_json::to_value(sos).expect("json")["sos"], json!(true));
    }
}
