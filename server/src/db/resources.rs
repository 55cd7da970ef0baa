//! Queries on `resources` (grid workers and vehicles) and `devices`.
//! Reads take the viewer's [`Territory`]: a resource is visible when its unit lies in it. Workers and vehicles are one table told apart by `kind`, so they are read
//! by one query each for a list, a count and one resource, with the kind bound; each kind adds
//! only its own columns ([`Worker`], [`Vehicle`]) and its own writes. Those three reads are put
//! together from shared fragments, which the compile-time checked macros cannot take, so the
//! API tests of both kinds are what check them against the schema.

use chrono::{DateTime, Utc};
use gridwall_spatial::ResourceKind;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};

use super::users::like_pattern;
use crate::territory::Territory;

/// A kind of resource: what it stores beyond what every resource has, read by column name
/// from the columns every read selects (`resource_columns!`).
pub trait Kind: for<'r> FromRow<'r, PgRow> + Send + Unpin {
    /// Which kind.
    const KIND: ResourceKind;
    /// `resources.kind`: `worker` or `vehicle`.
    const NAME: &'static str;
}

/// What only a worker has.
#[derive(Debug, Clone, FromRow)]
pub struct Worker {
    /// Phone, in clear.
    pub phone: Option<String>,
    /// The worker's account.
    pub user_id: Option<i64>,
    /// Its login name.
    pub username: Option<String>,
    /// Skills (case categories they handle).
    pub skills: Vec<String>,
}

impl Kind for Worker {
    const KIND: ResourceKind = ResourceKind::Worker;
    const NAME: &'static str = "worker";
}

/// What only a vehicle has.
#[derive(Debug, Clone, FromRow)]
pub struct Vehicle {
    /// Plate, as normalised on the way in.
    pub plate: String,
    /// `patrol`, `van`, `motorcycle`, `ebike` or `other`.
    pub vehicle_kind: String,
}

impl Kind for Vehicle {
    const KIND: ResourceKind = ResourceKind::Vehicle;
    const NAME: &'static str = "vehicle";
}

/// A resource of kind `K` as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ResourceRow<K> {
    /// `resources.id`.
    pub id: i64,
    /// Name (a vehicle's call sign).
    pub name: String,
    /// Home unit code (a worker's is a grid).
    pub unit_code: String,
    /// Home unit name.
    pub unit_name: String,
    /// Home unit level (0–4).
    pub unit_level: i16,
    /// On duty now.
    pub on_duty: bool,
    /// `wgs84` or `gcj02`: the datum the resource's devices report in.
    pub crs: String,
    /// Active devices.
    pub active_devices: i64,
    /// When disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// What only this kind has.
    #[sqlx(flatten)]
    pub own: K,
}

/// A worker as stored.
pub type WorkerRow = ResourceRow<Worker>;

/// A vehicle as stored.
pub type VehicleRow = ResourceRow<Vehicle>;

/// Filters of a resource list.
#[derive(Debug, Default)]
pub struct ResourceFilter {
    /// Only resources whose home unit lies under this unit (its id).
    pub under_unit_id: Option<i64>,
    /// Name or home unit name contains this, as typed (and a phone or plate, below).
    pub q: Option<String>,
    /// Whether `q` may match phone numbers (only for viewers who see them in clear).
    pub search_phone: bool,
    /// `q` normalised as plates are, matched against plates.
    pub q_plate: Option<String>,
    /// Only on-duty (`true`) or off-duty resources.
    pub on_duty: Option<bool>,
    /// Include disabled resources.
    pub include_disabled: bool,
    /// At most this many.
    pub limit: i64,
    /// Skip this many.
    pub offset: i64,
}

/// The columns of a [`ResourceRow`] of either kind: `r` is the resource, `g` its home unit,
/// `us` a worker's account. A kind reads its own and ignores the other's (NULL for it).
macro_rules! resource_columns {
    () => {
        "r.id, r.name, g.code AS unit_code, g.name AS unit_name, g.level AS unit_level,
                r.on_duty, r.crs,
                (SELECT count(*) FROM devices d
                 WHERE d.resource_id = r.id AND d.revoked_at IS NULL) AS active_devices,
                r.disabled_at, r.created_at, r.updated_at,
                r.phone, r.user_id, us.username, r.skills, r.plate, r.vehicle_kind"
    };
}

/// The resources visible in the territory `$2`, with their home unit `g`.
macro_rules! visible_resources {
    () => {
        "
         FROM resources r
         JOIN units g ON g.id = r.unit_id
         JOIN territory($2) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         LEFT JOIN users us ON us.id = r.user_id"
    };
}

/// The [`ResourceFilter`] but its page, as `$3`–`$8` (see [`bind_filter`]): under unit `$3`
/// (NULL: anywhere), of kind `$1`. A worker has no plate and a vehicle no phone to search, so
/// one condition serves both.
macro_rules! matching_filter {
    () => {
        "
         JOIN territory($3) under ON g.tree_lo BETWEEN under.lo AND under.hi
         WHERE r.kind = $1
           AND ($4::text IS NULL OR r.name ILIKE $4 OR g.name ILIKE $4
                OR ($5 AND r.phone ILIKE $4) OR r.plate ILIKE $4 OR r.plate ILIKE $6)
           AND ($7::bool IS NULL OR r.on_duty = $7)
           AND ($8 OR r.disabled_at IS NULL)"
    };
}

const LIST: &str = concat!(
    "SELECT ",
    resource_columns!(),
    visible_resources!(),
    matching_filter!(),
    "
         ORDER BY g.code, r.name, r.id
         LIMIT $9 OFFSET $10"
);

const COUNT: &str = concat!("SELECT count(*)", visible_resources!(), matching_filter!());

const ONE: &str = concat!(
    "SELECT ",
    resource_columns!(),
    visible_resources!(),
    " WHERE r.kind = $1 AND r.id = $3"
);

/// Binds `$1`–`$8` of [`LIST`] and [`COUNT`].
fn bind_filter<'q, K: Kind, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    territory: Territory,
    f: &ResourceFilter,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(K::NAME)
        .bind(territory.root())
        .bind(f.under_unit_id)
        .bind(f.q.as_deref().map(like_pattern))
        .bind(f.search_phone)
        .bind(f.q_plate.as_deref().map(like_pattern))
        .bind(f.on_duty)
        .bind(f.include_disabled)
}

/// One page of the resources of kind `K` visible in `territory`, by home unit code, then name.
pub async fn list<K: Kind>(
    db: impl PgExecutor<'_>,
    territory: Territory,
    f: &ResourceFilter,
) -> Result<Vec<ResourceRow<K>>, sqlx::Error> {
    bind_filter::<K, _>(sqlx::query_as(LIST), territory, f)
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(db)
        .await
}

/// How many resources of kind `K` visible in `territory` match `f` (over every page).
pub async fn count<K: Kind>(
    db: impl PgExecutor<'_>,
    territory: Territory,
    f: &ResourceFilter,
) -> Result<i64, sqlx::Error> {
    let (n,) = bind_filter::<K, (i64,)>(sqlx::query_as(COUNT), territory, f)
        .fetch_one(db)
        .await?;
    Ok(n)
}

/// The resource `id` of kind `K`, when visible in `territory`.
pub async fn get<K: Kind>(
    db: impl PgExecutor<'_>,
    territory: Territory,
    id: i64,
) -> Result<Option<ResourceRow<K>>, sqlx::Error> {
    sqlx::query_as(ONE)
        .bind(K::NAME)
        .bind(territory.root())
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The worker resource of a user account (role worker), if any.
pub async fn resource_of_user(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM resources WHERE user_id = $1 AND kind = 'worker' AND disabled_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// A write refused because a unique value already belongs to another resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The account is already another worker's.
    Account,
    /// The plate is already another vehicle's (compared case-insensitively).
    Plate,
}

/// [`Taken`] for a unique violation of `resources`, any other error as it is.
fn taken<T>(e: sqlx::Error) -> Result<Result<T, Taken>, sqlx::Error> {
    match e {
        sqlx::Error::Database(d) => match d.constraint() {
            Some("resources_user_id_key") => Ok(Err(Taken::Account)),
            Some("resources_plate_key") => Ok(Err(Taken::Plate)),
            _ => Err(sqlx::Error::Database(d)),
        },
        e => Err(e),
    }
}

/// A new worker.
#[derive(Debug)]
pub struct NewWorker<'a> {
    /// Name.
    pub name: &'a str,
    /// Phone.
    pub phone: Option<&'a str>,
    /// Home grid id.
    pub unit_id: i64,
    /// Account id (role worker).
    pub user_id: Option<i64>,
    /// Skills.
    pub skills: &'a [String],
    /// On duty.
    pub on_duty: bool,
    /// `wgs84` or `gcj02`.
    pub crs: &'a str,
}

/// Inserts a worker; returns its id, or [`Taken::Account`] when the account already belongs
/// to a worker.
pub async fn insert_worker(
    db: impl PgExecutor<'_>,
    w: &NewWorker<'_>,
) -> Result<Result<i64, Taken>, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO resources (kind, name, phone, unit_id, user_id, skills, on_duty, crs)
         VALUES ('worker', $1, $2, $3, $4, $5, $6, $7) RETURNING id",
        w.name,
        w.phone,
        w.unit_id,
        w.user_id,
        w.skills,
        w.on_duty,
        w.crs,
    )
    .fetch_one(db)
    .await
    .map_or_else(taken, |id| Ok(Ok(id)))
}

/// Changes to a worker; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct WorkerPatch<'a> {
    /// Name.
    pub name: Option<&'a str>,
    /// Phone: `Some(None)` removes it.
    pub phone: Option<Option<&'a str>>,
    /// Home grid id.
    pub unit_id: Option<i64>,
    /// Skills.
    pub skills: Option<&'a [String]>,
    /// On duty.
    pub on_duty: Option<bool>,
    /// `wgs84` or `gcj02`.
    pub crs: Option<&'a str>,
    /// Disable (`Some(true)`) or enable.
    pub disabled: Option<bool>,
}

/// Applies a patch.
pub async fn update_worker(
    db: impl PgExecutor<'_>,
    id: i64,
    p: &WorkerPatch<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE resources SET
           name = coalesce($2, name),
           phone = CASE WHEN $3 THEN $4 ELSE phone END,
           unit_id = coalesce($5, unit_id),
           skills = coalesce($6, skills),
           on_duty = coalesce($7, on_duty),
           disabled_at = CASE WHEN $8::bool IS NULL THEN disabled_at
                              WHEN $8 THEN coalesce(disabled_at, now())
                              ELSE NULL END,
           crs = coalesce($9, crs),
           updated_at = now()
         WHERE id = $1 AND kind = 'worker'",
        id,
        p.name,
        p.phone.is_some(),
        p.phone.flatten(),
        p.unit_id,
        p.skills,
        p.on_duty,
        p.disabled,
        p.crs,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A device token as listed (never the token).
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// Id.
    pub id: i64,
    /// Its resource.
    pub resource_id: i64,
    /// Label (e.g. the phone model).
    pub label: String,
    /// Issued by (user id).
    pub created_by: Option<i64>,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Device tokens of a resource, newest first.
pub async fn devices_of(
    db: impl PgExecutor<'_>,
    resource_id: i64,
) -> Result<Vec<DeviceRow>, sqlx::Error> {
    sqlx::query_as!(
        DeviceRow,
        "SELECT id, resource_id, label, created_by, created_at, last_used_at, revoked_at
         FROM devices WHERE resource_id = $1 ORDER BY id DESC",
        resource_id
    )
    .fetch_all(db)
    .await
}

/// Issues a device token and OsmAnd identifier (both as SHA-256) for a resource unless it
/// already has `max_active` active devices (`Ok(None)`). The resource row is locked so that
/// concurrent requests cannot both pass.
pub async fn insert_device(
    tx: &mut Transaction<'_, Postgres>,
    resource_id: i64,
    hashes: &DeviceHashes<'_>,
    label: &str,
    created_by: Option<i64>,
    max_active: i64,
) -> Result<Option<DeviceRow>, sqlx::Error> {
    sqlx::query!(
        "SELECT id FROM resources WHERE id = $1 FOR UPDATE",
        resource_id
    )
    .fetch_one(&mut **tx)
    .await?;
    let active = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM devices WHERE resource_id = $1 AND revoked_at IS NULL"#,
        resource_id
    )
    .fetch_one(&mut **tx)
    .await?;
    if active >= max_active {
        return Ok(None);
    }
    sqlx::query_as!(
        DeviceRow,
        "INSERT INTO devices (resource_id, token_hash, ident_hash, label, created_by)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, resource_id, label, created_by, created_at, last_used_at, revoked_at",
        resource_id,
        hashes.token,
        hashes.ident,
        label,
        created_by,
    )
    .fetch_one(&mut **tx)
    .await
    .map(Some)
}

/// The stored forms (SHA-256) of a device's credentials: its token and its OsmAnd identifier.
#[derive(Debug, Clone, Copy)]
pub struct DeviceHashes<'a> {
    /// `auth::hash_token` of the token.
    pub token: &'a [u8],
    /// `auth::hash_ident` of the identifier.
    pub ident: &'a [u8],
}

/// Replaces a device's token and identifier; the old ones stop matching at once. `None` when
/// the device is revoked (or gone): a revoked device stays revoked.
pub async fn rotate_device(
    db: impl PgExecutor<'_>,
    device_id: i64,
    hashes: &DeviceHashes<'_>,
) -> Result<Option<DeviceRow>, sqlx::Error> {
    sqlx::query_as!(
        DeviceRow,
        "UPDATE devices SET token_hash = $2, ident_hash = $3
         WHERE id = $1 AND revoked_at IS NULL
         RETURNING id, resource_id, label, created_by, created_at, last_used_at, revoked_at",
        device_id,
        hashes.token,
        hashes.ident,
    )
    .fetch_optional(db)
    .await
}

/// A device found by its OsmAnd identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentDevice {
    /// `devices.id`.
    pub device_id: i64,
    /// The worker or vehicle it reports for.
    pub resource_id: i64,
    /// The device is revoked or its resource disabled: its reports must be refused.
    pub revoked: bool,
}

/// The device whose identifier hashes to `ident_hash` (`auth::hash_ident`), revoked or not.
pub async fn device_by_ident(
    db: impl PgExecutor<'_>,
    ident_hash: &[u8],
) -> Result<Option<IdentDevice>, sqlx::Error> {
    sqlx::query_as!(
        IdentDevice,
        r#"SELECT d.id AS device_id, d.resource_id,
                  (d.revoked_at IS NOT NULL OR r.disabled_at IS NOT NULL) AS "revoked!"
           FROM devices d JOIN resources r ON r.id = d.resource_id
           WHERE d.ident_hash = $1"#,
        ident_hash
    )
    .fetch_optional(db)
    .await
}

/// Notes that a device was used (at most one write a minute per device).
pub async fn note_device_used(db: impl PgExecutor<'_>, device_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE devices SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')")
        .bind(device_id)
        .execute(db)
        .await?;
    Ok(())
}

/// A device with what the handlers need of its resource.
#[derive(Debug, Clone)]
pub struct ScopedDevice {
    /// The device.
    pub device: DeviceRow,
    /// `worker` or `vehicle`.
    pub resource_kind: String,
    /// Code of the resource's home unit.
    pub unit_code: String,
}

/// A device, when its resource is visible in `territory`.
pub async fn device_in_scope(
    db: impl PgExecutor<'_>,
    territory: Territory,
    device_id: i64,
) -> Result<Option<ScopedDevice>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT d.id, d.resource_id, d.label, d.created_by, d.created_at, d.last_used_at,
                  d.revoked_at, r.kind, g.code
           FROM devices d JOIN resources r ON r.id = d.resource_id JOIN units g ON g.id = r.unit_id
           JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
           WHERE d.id = $2"#,
        territory.root(),
        device_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| ScopedDevice {
        device: DeviceRow {
            id: r.id,
            resource_id: r.resource_id,
            label: r.label,
            created_by: r.created_by,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        },
        resource_kind: r.kind,
        unit_code: r.code,
    }))
}

/// Revokes a device: its token and its identifier both stop working. `false` when it was
/// already revoked.
pub async fn revoke_device(db: impl PgExecutor<'_>, device_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE devices SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        device_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A new vehicle.
#[derive(Debug)]
pub struct NewVehicle<'a> {
    /// Name (call sign).
    pub name: &'a str,
    /// Plate, normalised.
    pub plate: &'a str,
    /// Kind (`patrol`, …).
    pub vehicle_kind: &'a str,
    /// Home unit id.
    pub unit_id: i64,
    /// On duty.
    pub on_duty: bool,
    /// `wgs84` or `gcj02`.
    pub crs: &'a str,
}

/// Another vehicle with `plate` (compared case-insensitively) that `territory` can see, other
/// than `except`; takes a transaction-long lock on the plate first, so two writes of the same
/// plate cannot both pass the check. Plates are unique within what a caller can see: a vehicle
/// beyond the caller's territory neither blocks it nor is revealed.
pub async fn plate_holder(
    tx: &mut Transaction<'_, Postgres>,
    territory: Territory,
    plate: &str,
    except: Option<i64>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('resources.plate:' || upper($1), 0))",
    )
    .bind(plate)
    .execute(&mut **tx)
    .await?;
    sqlx::query_scalar(
        "SELECT r.id FROM resources r JOIN units g ON g.id = r.unit_id
           JOIN territory($1) scope ON g.tree_lo BETWEEN scope.lo AND scope.hi
         WHERE upper(r.plate) = upper($2) AND r.id IS DISTINCT FROM $3
         LIMIT 1",
    )
    .bind(territory.root())
    .bind(plate)
    .bind(except)
    .fetch_optional(&mut **tx)
    .await
}

/// Inserts a vehicle; returns its id, or [`Taken::Plate`].
pub async fn insert_vehicle(
    db: impl PgExecutor<'_>,
    v: &NewVehicle<'_>,
) -> Result<Result<i64, Taken>, sqlx::Error> {
    sqlx::query_scalar!(
        "INSERT INTO resources (kind, name, plate, vehicle_kind, unit_id, on_duty, crs)
         VALUES ('vehicle', $1, $2, $3, $4, $5, $6) RETURNING id",
        v.name,
        v.plate,
        v.vehicle_kind,
        v.unit_id,
        v.on_duty,
        v.crs,
    )
    .fetch_one(db)
    .await
    .map_or_else(taken, |id| Ok(Ok(id)))
}

/// Changes to a vehicle; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct VehiclePatch<'a> {
    /// Name.
    pub name: Option<&'a str>,
    /// Plate, normalised.
    pub plate: Option<&'a str>,
    /// Kind.
    pub vehicle_kind: Option<&'a str>,
    /// Home unit id.
    pub unit_id: Option<i64>,
    /// On duty.
    pub on_duty: Option<bool>,
    /// `wgs84` or `gcj02`.
    pub crs: Option<&'a str>,
    /// Disable (`Some(true)`) or enable.
    pub disabled: Option<bool>,
}

/// Applies a patch to a vehicle; [`Taken::Plate`] when the new plate is another vehicle's.
pub async fn update_vehicle(
    db: impl PgExecutor<'_>,
    id: i64,
    p: &VehiclePatch<'_>,
) -> Result<Result<(), Taken>, sqlx::Error> {
    sqlx::query!(
        "UPDATE resources SET
           name = coalesce($2, name),
           plate = coalesce($3, plate),
           vehicle_kind = coalesce($4, vehicle_kind),
           unit_id = coalesce($5, unit_id),
           on_duty = coalesce($6, on_duty),
           crs = coalesce($7, crs),
           disabled_at = CASE WHEN $8::bool IS NULL THEN disabled_at
                              WHEN $8 THEN coalesce(disabled_at, now())
                              ELSE NULL END,
           updated_at = now()
         WHERE id = $1 AND kind = 'vehicle'",
        id,
        p.name,
        p.plate,
        p.vehicle_kind,
        p.unit_id,
        p.on_duty,
        p.crs,
        p.disabled,
    )
    .execute(db)
    .await
    .map_or_else(taken, |_| Ok(Ok(())))
}
