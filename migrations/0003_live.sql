-- Live positions (issue 4): vehicles beside workers, the OsmAnd device identifier, the track
-- of every resource (partitioned by UTC day, retention by dropping partitions) and the latest
-- point of each resource, from which the live index is rebuilt at start-up.

-- Vehicles: a plate and what kind of vehicle; workers have neither.
ALTER TABLE resources
    ADD COLUMN plate text CHECK (plate IS NULL OR length(plate) BETWEEN 2 AND 20),
    ADD COLUMN vehicle_kind text
        CHECK (vehicle_kind IS NULL OR vehicle_kind IN ('patrol', 'van', 'motorcycle', 'ebike', 'other')),
    -- The datum the resource's devices report in; GCJ-02 is converted to WGS84 on the way in.
    ADD COLUMN crs text NOT NULL DEFAULT 'wgs84' CHECK (crs IN ('wgs84', 'gcj02')),
    -- An SOS raised by the resource's device (OsmAnd alarm=sos) and not yet cleared.
    ADD COLUMN sos_at timestamptz,
    ADD CONSTRAINT resources_vehicle_shape CHECK (
        (kind = 'vehicle' AND plate IS NOT NULL AND vehicle_kind IS NOT NULL)
        OR (kind = 'worker' AND plate IS NULL AND vehicle_kind IS NULL));
CREATE UNIQUE INDEX resources_plate_key ON resources (upper(plate)) WHERE plate IS NOT NULL;

-- The OsmAnd protocol (Traccar Client) sends no secret but its device identifier, so each
-- device is issued a random identifier (128 bits) beside its token; only its SHA-256 is kept.
ALTER TABLE devices ADD COLUMN ident_hash bytea UNIQUE;

-- Every accepted point. Partitioned by UTC day: retention drops whole days, and a track query
-- reads only the days it asks for. The primary key makes an exact re-send a no-op.
CREATE TABLE positions (
    resource_id bigint NOT NULL,
    at          timestamptz NOT NULL,
    geom        geometry(Point, 4326) NOT NULL,
    -- The grid the point was located in when it arrived (NULL outside every grid).
    grid_id     bigint,
    accuracy_m  real,
    speed_mps   real,
    heading_deg real,
    altitude_m  real,
    battery_pct real,
    sos         boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resource_id, at)
) PARTITION BY RANGE (at);

-- The partition for the UTC day holding `day_start`, created if missing; safe when several
-- writers race to create the same day.
CREATE FUNCTION positions_ensure_partition(day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    name text := 'positions_' || to_char(day, 'YYYYMMDD');
    lo timestamptz := (day::timestamp AT TIME ZONE 'UTC');
BEGIN
    IF to_regclass(name) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)',
                           name, lo, lo + interval '1 day');
        EXCEPTION WHEN duplicate_table THEN
            NULL; -- another writer created it first
        END;
    END IF;
    RETURN name;
END $$;

-- Drops every day partition that ends on or before `cutoff`; returns the dropped names.
CREATE FUNCTION positions_drop_before(cutoff timestamptz) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'positions' AND c.relname ~ '^positions_[0-9]{8}$'
          AND (to_date(substr(c.relname, 11), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
              + interval '1 day' <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.name);
        RETURN NEXT part.name;
    END LOOP;
END $$;

-- The newest point of each resource: what the live index starts from after a restart.
CREATE TABLE last_positions (
    resource_id bigint PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    geom        geometry(Point, 4326) NOT NULL,
    grid_id     bigint,
    accuracy_m  real,
    speed_mps   real,
    heading_deg real,
    battery_pct real,
    sos         boolean NOT NULL DEFAULT false
);
