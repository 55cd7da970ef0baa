//! Dispatch candidates for a case: `GET /api/cases/{id}/candidates?k=5&radius_m=5000` over HTTP
//! and `cases::candidates_for` in process, with 100,000 live workers, against PostGIS answering
//! the same question on the same rows in the same run (KNN on a GiST index, the duty, skill,
//! freshness and open-case filters in SQL), and a check that the two give the same workers in
//! the same order.
//!
//! Set-up (idempotent, in the bench database): 100,000 workers `bench-cand-N` (a third with
//! the skill 消防, ≈90 % on duty, 1 % disabled), each at a random position in a grid, homed in
//! that grid (90 %) or elsewhere (10 %, visitors), with a fresh last position (95 %, 0–60 s
//! old) or a stale one (30–60 min); 250 open cases to query (a quarter `fire`, which needs
//! 消防) and dispatched cases that load some of their grids' workers: 60 workers at the limit
//! (5), 60 with 2. The server is started on port 0 over that database (`cli::state`, which
//! loads the live index and the board).
//!
//! Knobs: `CANDIDATES_REQUESTS` (20,000), `CANDIDATES_PG_REQUESTS` (5,000),
//! `CANDIDATES_CONCURRENCY` (8). Run:
//! `cargo bench -p gridwall-server --bench candidates`.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::too_many_lines,
    reason = "benchmark"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Summary, env, load_average, summary};
use gridwall_server::auth::AuthConfig;
use gridwall_server::live::LiveConfig;
use gridwall_server::state::AppState;
use gridwall_server::{cases, cli, hierarchy, http};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sqlx::PgPool;

mod common;

const WORKERS: usize = 100_000;
const QUERY_CASES: usize = 250;
const AT_LIMIT: usize = 60;
const HALF_LOADED: usize = 60;
const K: i64 = 5;
const RADIUS_M: f64 = 5_000.0;
const TOKEN: &str = "gws_bench-cases-admin";
const CATEGORIES: [&str; 8] = [
    "fire",
    "dispute",
    "safety_hazard",
    "public_order",
    "environment",
    "city_appearance",
    "public_service",
    "other",
];

/// The same question in SQL: the case grid's own workers first, then the nearest others
/// (KNN on the geography GiST index), each by great-circle distance on the sphere (as the live
/// index measures), ties by id.
const PG_CANDIDATES: &str = "
WITH own AS (
    SELECT r.id, true AS own,
           ST_Distance(l.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, false) AS d
    FROM resources r JOIN last_positions l ON l.resource_id = r.id
    WHERE r.unit_id = $3 AND r.kind = 'worker' AND r.disabled_at IS NULL AND r.on_duty
      AND r.sos_at IS NULL AND l.at >= now() - make_interval(secs => $8)
      AND ($4::text IS NULL OR $4 = ANY (r.skills))
      AND (SELECT count(*) FROM cases k
           WHERE k.assignee_id = r.id AND k.status IN ('dispatched', 'in_progress')) < $7
      AND ST_DWithin(l.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $5, false)
    ORDER BY d, r.id LIMIT $6
), others AS (
    SELECT r.id, false AS own,
           ST_Distance(l.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, false) AS d
    FROM last_positions l JOIN resources r ON r.id = l.resource_id
    WHERE r.unit_id <> $3 AND r.kind = 'worker' AND r.disabled_at IS NULL AND r.on_duty
      AND r.sos_at IS NULL AND l.at >= now() - make_interval(secs => $8)
      AND ($4::text IS NULL OR $4 = ANY (r.skills))
      AND (SELECT count(*) FROM cases k
           WHERE k.assignee_id = r.id AND k.status IN ('dispatched', 'in_progress')) < $7
      AND ST_DWithin(l.geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $5, false)
    ORDER BY l.geom::geography <-> ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography LIMIT $6
)
SELECT id, own, d FROM own UNION ALL SELECT id, own, d FROM others
ORDER BY own DESC, d, id LIMIT $6";

/// A case to query: where, its grid, its category's skill.
#[derive(Debug, Clone)]
struct QueryCase {
    id: i64,
    lng: f64,
    lat: f64,
    grid_id: i64,
    skill: Option<String>,
}

struct Worker {
    lng: f64,
    lat: f64,
    grid_id: i64,
    home_id: i64,
    fire: bool,
    on_duty: bool,
    disabled: bool,
    age_s: f64,
}

/// Creates (once) the workers, their fresh positions (every run) and the cases; answers the
/// query cases in order.
async fn set_up(pool: &PgPool, loaded: &gridwall_server::state::LoadedHierarchy) -> Vec<i64> {
    let h = &loaded.hierarchy;
    let db_id = |g: gridwall_spatial::UnitId| loaded.db_ids[g.0 as usize];
    let mut rng = StdRng::seed_from_u64(2026);
    let workers: Vec<Worker> = (0..WORKERS)
        .map(|i| {
            let (p, grid) = common::in_grid(&mut rng, h);
            let home = if rng.random_bool(0.9) {
                grid
            } else {
                common::in_grid(&mut rng, h).1
            };
            Worker {
                lng: p.lng(),
                lat: p.lat(),
                grid_id: db_id(grid),
                home_id: db_id(home),
                fire: i % 3 == 0,
                on_duty: rng.random_bool(0.9),
                disabled: rng.random_bool(0.01),
                age_s: if rng.random_bool(0.95) {
                    rng.random_range(0.0..60.0)
                } else {
                    rng.random_range(1800.0..3600.0)
                },
            }
        })
        .collect();
    let names: Vec<String> = (0..WORKERS).map(|i| format!("bench-cand-{i}")).collect();
    let homes: Vec<i64> = workers.iter().map(|w| w.home_id).collect();
    let fire: Vec<bool> = workers.iter().map(|w| w.fire).collect();
    let duty: Vec<bool> = workers.iter().map(|w| w.on_duty).collect();
    let disabled: Vec<bool> = workers.iter().map(|w| w.disabled).collect();
    sqlx::query(
        "INSERT INTO resources (kind, name, unit_id, on_duty, skills, disabled_at)
         SELECT 'worker', n, u, d, CASE WHEN f THEN ARRAY['消防'] ELSE '{}' END,
                CASE WHEN x THEN now() END
         FROM unnest($1::text[], $2::bigint[], $3::bool[], $4::bool[], $5::bool[])
              AS t(n, u, d, f, x)
         WHERE NOT EXISTS (SELECT 1 FROM resources r WHERE r.name = t.n)",
    )
    .bind(&names)
    .bind(&homes)
    .bind(&duty)
    .bind(&fire)
    .bind(&disabled)
    .execute(pool)
    .await
    .unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM resources WHERE name LIKE 'bench-cand-%'")
            .fetch_all(pool)
            .await
            .unwrap();
    let by_name: HashMap<String, i64> = rows.into_iter().map(|(id, n)| (n, id)).collect();
    let ids: Vec<i64> = names.iter().map(|n| by_name[n]).collect();
    // Fresh positions on every run: the freshness filter is relative to now.
    let lngs: Vec<f64> = workers.iter().map(|w| w.lng).collect();
    let lats: Vec<f64> = workers.iter().map(|w| w.lat).collect();
    let grids: Vec<i64> = workers.iter().map(|w| w.grid_id).collect();
    let ages: Vec<f64> = workers.iter().map(|w| w.age_s).collect();
    sqlx::query(
        "INSERT INTO last_positions (resource_id, at, geom, grid_id)
         SELECT id, now() - make_interval(secs => age), ST_SetSRID(ST_MakePoint(x, y), 4326), g
         FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::bigint[], $5::float8[])
              AS t(id, x, y, g, age)
         ON CONFLICT (resource_id) DO UPDATE SET at = excluded.at, geom = excluded.geom,
             grid_id = excluded.grid_id, sos = false",
    )
    .bind(&ids)
    .bind(&lngs)
    .bind(&lats)
    .bind(&grids)
    .bind(&ages)
    .execute(pool)
    .await
    .unwrap();

    // Cases to query, and dispatched cases that load some of their grids' own workers.
    let mut by_home: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, w) in workers.iter().enumerate() {
        if w.on_duty && !w.disabled && w.age_s < 60.0 {
            by_home.entry(w.home_id).or_default().push(i);
        }
    }
    let mut numbers = Vec::new();
    let mut categories = Vec::new();
    let (mut cx, mut cy, mut cg) = (Vec::new(), Vec::new(), Vec::new());
    let mut statuses = Vec::new();
    let mut assignees: Vec<Option<i64>> = Vec::new();
    let mut rng = StdRng::seed_from_u64(5);
    let mut loaded_workers = 0;
    for c in 0..QUERY_CASES {
        let (p, grid) = common::in_grid(&mut rng, h);
        let category = if c % 4 == 0 {
            CATEGORIES[0]
        } else {
            CATEGORIES[1 + c % 7]
        };
        numbers.push(format!("BENCH-C-{c:06}"));
        categories.push(category.to_owned());
        cx.push(p.lng());
        cy.push(p.lat());
        cg.push(db_id(grid));
        statuses.push("accepted".to_owned());
        assignees.push(None);
        let load = if c < AT_LIMIT {
            5
        } else if c < AT_LIMIT + HALF_LOADED {
            2
        } else {
            0
        };
        if load == 0 {
            continue;
        }
        let Some(w) = by_home.get(&db_id(grid)).and_then(|v| v.first()) else {
            continue;
        };
        loaded_workers += 1;
        for j in 0..load {
            numbers.push(format!("BENCH-L-{c:06}-{j}"));
            categories.push("other".to_owned());
            cx.push(p.lng());
            cy.push(p.lat());
            cg.push(db_id(grid));
            statuses.push("dispatched".to_owned());
            assignees.push(Some(ids[*w]));
        }
    }
    sqlx::query(
        "INSERT INTO cases (number, title, category, source, severity, geom, grid_id,
                            handling_unit_id, status, assignee_id, assigned_at, deadline_at,
                            first_dispatched_at)
         SELECT n, 'bench-candidates', c, 'hotline_12345', 2,
                ST_SetSRID(ST_MakePoint(x, y), 4326), g, g, s, a,
                CASE WHEN a IS NOT NULL THEN now() END, now() + interval '1 year',
                CASE WHEN a IS NOT NULL THEN now() END
         FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::bigint[],
                     $6::text[], $7::bigint[]) AS t(n, c, x, y, g, s, a)
         ON CONFLICT (number) DO NOTHING",
    )
    .bind(&numbers)
    .bind(&categories)
    .bind(&cx)
    .bind(&cy)
    .bind(&cg)
    .bind(&statuses)
    .bind(&assignees)
    .execute(pool)
    .await
    .unwrap();
    // One event per set-up case, so the history is not empty (the table is append-only).
    sqlx::query(
        "INSERT INTO case_events (case_id, version, action, to_status, actor, details)
         SELECT id, 1, 'bench_setup', status, 'bench', '{}' FROM cases
         WHERE title = 'bench-candidates'
         ON CONFLICT (case_id, version) DO NOTHING",
    )
    .execute(pool)
    .await
    .unwrap();
    for sql in [
        "CREATE INDEX IF NOT EXISTS bench_last_positions_geog_idx
             ON last_positions USING gist ((geom::geography))",
        "ANALYZE resources",
        "ANALYZE last_positions",
        "ANALYZE cases",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    println!(
        "set-up: {WORKERS} workers, {QUERY_CASES} cases to query, {} dispatched cases on \
         {loaded_workers} workers ({AT_LIMIT} at the limit of 5 where the grid had one)",
        numbers.len() - QUERY_CASES
    );
    let q: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, number FROM cases WHERE number LIKE 'BENCH-C-%' ORDER BY number",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    q.into_iter().map(|(id, _)| id).collect()
}

fn row(what: &str, s: &Summary, load: &str, extra: &str) -> String {
    format!(
        "| {what} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {extra} | {load} |",
        s.n, s.p50_us, s.p99_us, s.max_us, s.mean_us
    )
}

async fn pg_answer(pool: &PgPool, c: &QueryCase) -> Vec<(i64, bool, f64)> {
    pg_answer_with(pool, c, c.skill.as_deref(), 5).await
}

/// [`pg_answer`] with another skill and open-case limit (to show what the filters change).
async fn pg_answer_with(
    pool: &PgPool,
    c: &QueryCase,
    skill: Option<&str>,
    max_open: i64,
) -> Vec<(i64, bool, f64)> {
    sqlx::query_as(PG_CANDIDATES)
        .bind(c.lng)
        .bind(c.lat)
        .bind(c.grid_id)
        .bind(skill)
        .bind(RADIUS_M)
        .bind(K)
        .bind(max_open)
        .bind(600.0_f64)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Times `per_task` calls of `f(i)` in each of `tasks` tasks; all timings and the wall time.
async fn concurrent<F, Fut>(tasks: usize, per_task: usize, f: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let s = Instant::now();
                    f(t * per_task + i).await;
                    times.push(s.elapsed());
                }
                times
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    (all, started.elapsed())
}

#[allow(
    clippy::many_single_char_names,
    reason = "t for a start time, as in the other benches"
)]
fn main() {
    let requests: usize = env("CANDIDATES_REQUESTS", 20_000);
    let pg_requests: usize = env("CANDIDATES_PG_REQUESTS", 5_000);
    let tasks: usize = env("CANDIDATES_CONCURRENCY", 8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        println!("load average at start: {}", load_average());
        let pool = common::bench_pool(16).await;
        common::admin_session(&pool, "bench-cases", TOKEN).await;
        let loaded = hierarchy::load(&pool).await.unwrap().unwrap();
        let t = Instant::now();
        let case_ids = set_up(&pool, &loaded).await;
        println!("set-up took {:.1} s", t.elapsed().as_secs_f64());
        let set_up_done = Instant::now();
        // As `gridwall serve` runs by default: valid sessions trusted from memory for 2 s.
        let auth = AuthConfig {
            session_cache: Duration::from_secs(2),
            ..AuthConfig::default()
        };
        let state: AppState = cli::state(pool.clone(), 16, auth, LiveConfig::default())
            .await
            .unwrap();
        let live_n = state.live.read(None).index().len();
        println!(
            "live index: {live_n} resources; board: {} open cases",
            state.cases.board.len()
        );
        let router = http::app(state.clone(), None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .into_future(),
        );
        let query_cases: Vec<QueryCase> = case_ids
            .iter()
            .map(|id| {
                let b = state.cases.board.get(*id).unwrap();
                QueryCase {
                    id: *id,
                    lng: b.position[0],
                    lat: b.position[1],
                    grid_id: b.grid_id,
                    skill: state.cases.category(&b.category).and_then(|c| c.skill.clone()),
                }
            })
            .collect();
        let nq = query_cases.len();
        let mut table = Vec::new();

        // In process: the handler's work without HTTP and the session check.
        let in_process = |i: usize| {
            let case = state.cases.board.get(query_cases[i % nq].id).unwrap();
            cases::candidates_for(&state, &case, K as usize, RADIUS_M, &[], &|_| true).unwrap()
        };
        for i in 0..2_000 {
            black_box(in_process(i));
        }
        let mut times: Vec<Duration> = (0..requests)
            .map(|i| {
                let t = Instant::now();
                black_box(in_process(i));
                t.elapsed()
            })
            .collect();
        table.push(row(
            "`cases::candidates_for` in process (board, directory, live index)",
            &summary(&mut times),
            &load_average(),
            "",
        ));
        let ours: Vec<Vec<(i64, bool, f64)>> = (0..nq)
            .map(|i| {
                in_process(i)
                    .into_iter()
                    .map(|c| (c.id, c.own_grid, c.distance_m))
                    .collect()
            })
            .collect();

        // Over HTTP, keep-alive, one client.
        let client = reqwest::Client::new();
        let urls: Arc<Vec<String>> = Arc::new(
            query_cases
                .iter()
                .map(|c| format!("http://{addr}/api/cases/{}/candidates?k={K}&radius_m={RADIUS_M}", c.id))
                .collect(),
        );
        let url = {
            let urls = Arc::clone(&urls);
            move |i: usize| urls[i % urls.len()].clone()
        };
        let get = |client: reqwest::Client, url: String| async move {
            let r = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap()
        };
        for i in 0..1_000 {
            black_box(get(client.clone(), url(i)).await);
        }
        let mut over_http = Vec::with_capacity(nq);
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests {
            let u = url(i);
            let t = Instant::now();
            let body = get(client.clone(), u).await;
            times.push(t.elapsed());
            if i < nq {
                over_http.push(body);
            }
        }
        table.push(row(
            "HTTP `GET /api/cases/{id}/candidates`, 1 client, keep-alive",
            &summary(&mut times),
            &load_average(),
            "",
        ));
        let (mut times, wall) = {
            let (client, url) = (client.clone(), Arc::new(url.clone()));
            concurrent(tasks, requests / tasks, move |i| {
                let (client, url) = (client.clone(), Arc::clone(&url));
                async move {
                    black_box(get(client, url(i)).await);
                }
            })
            .await
        };
        let s = summary(&mut times);
        table.push(row(
            &format!("HTTP, {tasks} clients at once"),
            &s,
            &load_average(),
            &format!("{:.0} req/s", s.n as f64 / wall.as_secs_f64()),
        ));

        // Where an HTTP request's time goes: the session check's query alone, and HTTP with a
        // session check and next to no other work (`GET /api/locate`, an in-memory locate).
        let hash = gridwall_server::auth::hash_token(TOKEN);
        let session_sql = "SELECT s.id, s.user_id, s.expires_at, s.last_seen_at, s.idle_timeout_s,
                  s.revoked_at, u.username, u.display_name, u.role, u.scope_unit_id, su.code,
                  su.name, su.level, u.phone, u.disabled_at, now()
           FROM sessions s JOIN users u ON u.id = s.user_id
           LEFT JOIN units su ON su.id = u.scope_unit_id WHERE s.token_hash = $1";
        let mut times = Vec::with_capacity(pg_requests);
        for i in 0..pg_requests + 500 {
            let t = Instant::now();
            black_box(
                sqlx::query(session_sql)
                    .bind(&hash)
                    .fetch_optional(&state.pool)
                    .await
                    .unwrap(),
            );
            if i >= 500 {
                times.push(t.elapsed());
            }
        }
        table.push(row(
            "the session check's query alone (pool, loopback)",
            &summary(&mut times),
            &load_average(),
            "",
        ));
        let mut times = Vec::with_capacity(pg_requests);
        for i in 0..pg_requests + 500 {
            let t = Instant::now();
            let c = &query_cases[i % nq];
            let u = format!("http://{addr}/api/locate?lng={}&lat={}", c.lng, c.lat);
            black_box(get(client.clone(), u).await);
            if i >= 500 {
                times.push(t.elapsed());
            }
        }
        table.push(row(
            "HTTP `GET /api/locate` (session check + in-memory locate)",
            &summary(&mut times),
            &load_average(),
            "",
        ));

        // The anchor: PostGIS answering the same question, one query per request, same pool.
        for c in query_cases.iter().cycle().take(500) {
            black_box(pg_answer(&state.pool, c).await);
        }
        let mut theirs = Vec::with_capacity(nq);
        let mut times = Vec::with_capacity(pg_requests);
        for i in 0..pg_requests {
            let c = &query_cases[i % nq];
            let t = Instant::now();
            let a = pg_answer(&state.pool, c).await;
            times.push(t.elapsed());
            if i < nq {
                theirs.push(a);
            }
        }
        table.push(row(
            "**anchor**: PostGIS, one query per request (KNN on GiST + filters), 1 client",
            &summary(&mut times),
            &load_average(),
            "",
        ));
        let (mut times, wall) = {
            let (pool, qc) = (state.pool.clone(), Arc::new(query_cases.clone()));
            concurrent(tasks, pg_requests / tasks, move |i| {
                let (pool, qc) = (pool.clone(), Arc::clone(&qc));
                async move {
                    black_box(pg_answer(&pool, &qc[i % qc.len()]).await);
                }
            })
            .await
        };
        let s = summary(&mut times);
        table.push(row(
            &format!("**anchor**: PostGIS, {tasks} clients at once"),
            &s,
            &load_average(),
            &format!("{:.0} queries/s", s.n as f64 / wall.as_secs_f64()),
        ));
        let minutes = set_up_done.elapsed().as_secs_f64() / 60.0;

        // Agreement: same ids in the same order, distances within a centimetre.
        let mut same = 0;
        let mut http_same = 0;
        let mut max_dd = 0.0_f64;
        let mut answers = [0usize; 6];
        let mut own_first = 0;
        for i in 0..nq {
            let a: Vec<i64> = ours[i].iter().map(|c| c.0).collect();
            let b: Vec<i64> = theirs[i].iter().map(|c| c.0).collect();
            if a == b {
                same += 1;
                for (x, y) in ours[i].iter().zip(&theirs[i]) {
                    max_dd = max_dd.max((x.2 - y.2).abs());
                }
            } else {
                println!("case {}: ours {:?}\n          PostGIS {:?}", query_cases[i].id, ours[i], theirs[i]);
            }
            let v: Value = serde_json::from_slice(&over_http[i]).unwrap();
            let h: Vec<i64> = v["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
                .collect();
            if h == a {
                http_same += 1;
            }
            answers[a.len().min(5)] += 1;
            if ours[i].first().is_some_and(|c| c.1) {
                own_first += 1;
            }
        }
        // What the load and skill filters change: PostGIS without each.
        let (mut by_load, mut by_skill, mut fire) = (0, 0, 0);
        for (i, c) in query_cases.iter().enumerate() {
            if pg_answer_with(&state.pool, c, c.skill.as_deref(), i64::MAX).await != theirs[i] {
                by_load += 1;
            }
            if c.skill.is_some() {
                fire += 1;
                if pg_answer_with(&state.pool, c, None, 5).await != theirs[i] {
                    by_skill += 1;
                }
            }
        }
        println!(
            "answers changed by the open-case limit: {by_load} of {nq}; by the skill: {by_skill} \
             of the {fire} cases that need one"
        );
        println!(
            "\nagreement with PostGIS on the {nq} cases: {same} of {nq} the same workers in the \
             same order (largest distance difference {max_dd:.4} m); HTTP answers equal to the \
             in-process ones: {http_same} of {nq}"
        );
        println!(
            "answers with 0..5 candidates: {answers:?}; answers led by an own-grid worker: \
             {own_first}; measured {minutes:.1} min after the positions were written"
        );
        println!(
            "\n| what | requests | p50 µs | p99 µs | max µs | mean µs | throughput | load avg (1/5/15) |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for r in table {
            println!("{r}");
        }
    });
}
