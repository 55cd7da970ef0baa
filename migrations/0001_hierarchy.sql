-- The 王 hierarchy: every unit (city, county, township, village, grid) with its polygon,
-- the H3 cover of the grids, and a version that changes on every import.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE units (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code          text NOT NULL UNIQUE CHECK (code ~ '^[0-9]+$' AND length(code) IN (6, 9, 12, 15)),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    level         smallint NOT NULL CHECK (level BETWEEN 0 AND 4),
    -- Deferred, so an import may re-parent and delete units in any order within its transaction.
    parent_id     bigint REFERENCES units (id) DEFERRABLE INITIALLY DEFERRED,
    geom          geometry(MultiPolygon, 4326) NOT NULL,
    -- The same polygon in Web Mercator, for vector tiles (kept in step by the importer).
    geom_3857     geometry(MultiPolygon, 3857) NOT NULL,
    area_m2       double precision NOT NULL,
    -- A point inside the polygon (ST_PointOnSurface) for labels and markers.
    label         geometry(Point, 4326) NOT NULL,
    label_3857    geometry(Point, 3857) NOT NULL,
    h3_resolution smallint NOT NULL CHECK (h3_resolution BETWEEN 0 AND 15),
    -- Only a city or a county may be a root; a city is always one.
    CHECK (parent_id IS NOT NULL OR level <= 1),
    CHECK (level > 0 OR parent_id IS NULL)
);

CREATE INDEX units_geom_idx ON units USING gist (geom);
CREATE INDEX units_geom_3857_idx ON units USING gist (geom_3857);
CREATE INDEX units_label_3857_idx ON units USING gist (label_3857);
CREATE INDEX units_parent_idx ON units (parent_id);
CREATE INDEX units_level_idx ON units (level);

-- The H3 cover of every grid at the hierarchy's resolution. A cell that crosses a grid
-- boundary appears once per grid it meets, with boundary = true.
CREATE TABLE unit_cells (
    cell     bigint NOT NULL,
    unit_id  bigint NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    boundary boolean NOT NULL,
    PRIMARY KEY (cell, unit_id)
);

CREATE INDEX unit_cells_unit_idx ON unit_cells (unit_id);

-- One row per successful import; the current version is the greatest.
CREATE TABLE hierarchy_versions (
    version     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    imported_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL,
    resolution  smallint NOT NULL,
    counts      jsonb NOT NULL,
    warnings    jsonb NOT NULL DEFAULT '[]'
);
