-- Patrol coverage and density (issue 6): a per-hour, per-H3-cell roll-up of the tracks, kept
-- up to date by the server as points arrive (a minute behind), so that coverage and density
-- over a day read thousands of rows instead of millions of positions.

-- The roll-up reads new positions by arrival time: a BRIN index is tiny and cheap to keep on
-- an append-only column.
CREATE INDEX positions_received_brin ON positions USING brin (received_at);

CREATE TABLE track_cells (
    -- The hour (UTC) the points were taken in.
    hour      timestamptz NOT NULL,
    -- H3 cell at resolution 11 (≈ 25 m edges), its 64-bit index as a bigint.
    cell      bigint NOT NULL,
    -- The grid containing the cell's centre (NULL outside every grid).
    grid_id   bigint REFERENCES units (id) ON DELETE SET NULL,
    -- Positions reported in the cell that hour (every resource): the density layer.
    points    integer NOT NULL DEFAULT 0,
    -- An on-duty worker's patrol passed through the cell that hour, counting the walk between
    -- consecutive reports: the coverage.
    patrolled boolean NOT NULL DEFAULT false,
    PRIMARY KEY (hour, cell)
);
CREATE INDEX track_cells_grid_idx ON track_cells (grid_id, hour);

-- How far each roll-up has read (arrival time of the positions).
CREATE TABLE rollup_state (
    name text PRIMARY KEY,
    upto timestamptz NOT NULL
);
