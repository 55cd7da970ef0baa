-- Early warning (预警, issue 6): the rules with their thresholds (one row per kind, editable by
-- admins) and the alerts they raise, each with its life open → acknowledged → resolved.

CREATE TABLE alert_rules (
    kind          text PRIMARY KEY
                  CHECK (kind IN ('sos', 'offline', 'out_of_grid', 'stationary', 'overdue',
                                  'hotspot', 'repeat_reporter')),
    enabled       boolean NOT NULL DEFAULT true,
    -- 1 (note) – 4 (act now).
    severity      smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
    -- offline, out_of_grid, stationary: for longer than this.
    minutes       integer CHECK (minutes IS NULL OR minutes BETWEEN 1 AND 10080),
    -- stationary: "not moving" is staying within this distance.
    distance_m    real CHECK (distance_m IS NULL OR distance_m BETWEEN 1 AND 10000),
    -- hotspot, repeat_reporter: at least this many cases in the window.
    min_count     integer CHECK (min_count IS NULL OR min_count BETWEEN 1 AND 1000),
    -- hotspot: and at least this many times the cell's own baseline rate.
    ratio         real CHECK (ratio IS NULL OR ratio BETWEEN 1 AND 1000),
    -- hotspot, repeat_reporter: the window counted.
    window_hours  integer CHECK (window_hours IS NULL OR window_hours BETWEEN 1 AND 8760),
    -- hotspot: the days before the window that make the baseline.
    baseline_days integer CHECK (baseline_days IS NULL OR baseline_days BETWEEN 1 AND 365),
    -- hotspot: the H3 resolution of the cells counted.
    h3_resolution smallint CHECK (h3_resolution IS NULL OR h3_resolution BETWEEN 5 AND 11),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

INSERT INTO alert_rules (kind, severity, minutes, distance_m, min_count, ratio, window_hours,
                         baseline_days, h3_resolution) VALUES
    ('sos',             4, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('offline',         3, 30,   NULL, NULL, NULL, NULL, NULL, NULL),
    ('out_of_grid',     2, 30,   NULL, NULL, NULL, NULL, NULL, NULL),
    ('stationary',      2, 60,   30,   NULL, NULL, NULL, NULL, NULL),
    ('overdue',         3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('hotspot',         3, NULL, NULL, 3,    3,    24,   30,   8),
    ('repeat_reporter', 2, NULL, NULL, 3,    NULL, 720,  NULL, NULL);

CREATE TABLE alerts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL REFERENCES alert_rules (kind),
    severity       smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'acknowledged', 'resolved')),
    -- The unit it belongs to (a worker's home grid, a case's grid): decides whose territory.
    unit_id        bigint NOT NULL REFERENCES units (id),
    geom           geometry(Point, 4326) NOT NULL,
    -- What it is about: a resource (`resources.id`), a case (`cases.id`), an H3 cell and
    -- category (`<cell hex>:<category>`), a reporter (phone number).
    entity_type    text NOT NULL CHECK (entity_type IN ('resource', 'case', 'cell', 'reporter')),
    entity_id      text NOT NULL,
    title          text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}',
    raised_at      timestamptz NOT NULL DEFAULT now(),
    -- Raised again while open: the same alert is updated, not duplicated.
    last_raised_at timestamptz NOT NULL DEFAULT now(),
    occurrences    integer NOT NULL DEFAULT 1,
    acknowledged_at timestamptz,
    acknowledged_by text,
    acknowledge_note text,
    resolved_at    timestamptz,
    -- A user name, or `system` when the condition cleared by itself.
    resolved_by    text,
    resolve_note   text,
    version        integer NOT NULL DEFAULT 1
);
-- One live (not resolved) alert per kind and entity: raising it again updates that row.
CREATE UNIQUE INDEX alerts_live_key ON alerts (kind, entity_type, entity_id)
    WHERE status <> 'resolved';
CREATE INDEX alerts_raised_idx ON alerts (raised_at DESC);
CREATE INDEX alerts_open_idx ON alerts (status) WHERE status <> 'resolved';
CREATE INDEX alerts_unit_idx ON alerts (unit_id);
