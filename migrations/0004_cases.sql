-- Cases (事件) from report to follow-up (issue 5): the category code list with its deadlines,
-- the cases themselves, their append-only event history, and the daily case numbers.

-- The code list of case categories; sites add their own rows. `skill`, when set, is the worker
-- skill a candidate must have to be dispatched to a case of this category.
CREATE TABLE case_categories (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
    name_zh    text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 50),
    name_en    text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 50),
    -- Time from report to deadline (办结时限).
    sla_hours  integer NOT NULL CHECK (sla_hours BETWEEN 1 AND 8760),
    skill      text CHECK (skill IS NULL OR length(skill) BETWEEN 1 AND 50),
    sort       integer NOT NULL DEFAULT 0,
    active     boolean NOT NULL DEFAULT true
);

INSERT INTO case_categories (code, name_zh, name_en, sla_hours, skill, sort) VALUES
    ('dispute',         '矛盾纠纷', 'Dispute',          72,  NULL,   10),
    ('safety_hazard',   '安全隐患', 'Safety hazard',    24,  NULL,   20),
    ('public_order',    '治安',     'Public order',     24,  NULL,   30),
    ('fire',            '消防',     'Fire safety',      4,   '消防', 40),
    ('environment',     '环境',     'Environment',      72,  NULL,   50),
    ('city_appearance', '市容',     'City appearance',  72,  NULL,   60),
    ('public_service',  '民生服务', 'Public service',   120, NULL,   70),
    ('other',           '其他',     'Other',            120, NULL,   80);

-- Case numbers are readable and per day: NT-20261126-000123. The day is the command center's
-- (China Standard Time), the counter the last number given that day.
CREATE TABLE case_numbers (
    day  date PRIMARY KEY,
    last integer NOT NULL
);

CREATE TABLE cases (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number           text NOT NULL UNIQUE,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    category         text NOT NULL REFERENCES case_categories (code),
    source           text NOT NULL
                     CHECK (source IN ('patrol', 'hotline_12345', 'police_110', 'walk_in', 'other')),
    severity         smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
    geom             geometry(Point, 4326) NOT NULL,
    address          text CHECK (address IS NULL OR length(address) <= 300),
    -- The grid `locate` placed the case in; the handling unit starts there and moves up to the
    -- township, then the county, on escalation.
    grid_id          bigint NOT NULL REFERENCES units (id),
    handling_unit_id bigint NOT NULL REFERENCES units (id),
    reporter_name    text CHECK (reporter_name IS NULL OR length(reporter_name) BETWEEN 1 AND 100),
    -- In clear for the follow-up call; shown masked to roles that do not need it.
    reporter_phone   text CHECK (reporter_phone IS NULL OR reporter_phone ~ '^\+?[0-9][0-9 -]{2,30}$'),
    -- Who registered it: a user, or a worker's phone (device token).
    created_by_user     bigint REFERENCES users (id),
    created_by_resource bigint REFERENCES resources (id),
    status           text NOT NULL DEFAULT 'reported'
                     CHECK (status IN ('reported', 'accepted', 'dispatched', 'in_progress',
                                       'resolved', 'followed_up', 'closed', 'returned',
                                       'escalated', 'rejected')),
    -- The worker (resources.id) it is dispatched to; `taken_at` when they accepted it.
    assignee_id      bigint REFERENCES resources (id),
    assigned_at      timestamptz,
    taken_at         timestamptz,
    deadline_at      timestamptz NOT NULL,
    -- When it first went past its deadline unresolved (kept: on-time rates need it).
    overdue_at       timestamptz,
    -- A possible duplicate of this earlier open case (same category, ≤ 100 m, ≤ 24 h).
    duplicate_of     bigint REFERENCES cases (id),
    -- Optimistic concurrency: every change adds one; a transition names the version it saw.
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    first_dispatched_at timestamptz,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    -- `Idempotency-Key` of the creating request, per credential (user or device), and the
    -- SHA-256 of its body: a retry answers the same case, another body under the same key 422.
    idempotency_actor text,
    idempotency_key   text CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 200),
    request_hash      bytea,
    CHECK ((idempotency_key IS NULL) = (idempotency_actor IS NULL)),
    CHECK (status NOT IN ('dispatched', 'in_progress') OR assignee_id IS NOT NULL)
);
CREATE UNIQUE INDEX cases_idempotency_key ON cases (idempotency_actor, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX cases_geom_idx ON cases USING gist (geom);
CREATE INDEX cases_created_idx ON cases (created_at DESC);
CREATE INDEX cases_grid_idx ON cases (grid_id);
CREATE INDEX cases_open_idx ON cases (status) WHERE status NOT IN ('closed', 'rejected');
CREATE INDEX cases_assignee_idx ON cases (assignee_id) WHERE assignee_id IS NOT NULL;
CREATE INDEX cases_reporter_phone_idx ON cases (reporter_phone, created_at)
    WHERE reporter_phone IS NOT NULL;

-- Every change of a case, in order. Append-only like the audit log.
CREATE TABLE case_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL DEFAULT now(),
    -- The case version this event produced.
    version     integer NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    -- Who: a user, a worker's phone, or the system (overdue, auto-dispatch).
    actor       text NOT NULL,
    actor_user  bigint,
    actor_resource bigint,
    role        text,
    note        text CHECK (note IS NULL OR length(note) <= 2000),
    -- Where the actor was (a worker resolving on site), WGS84.
    geom        geometry(Point, 4326),
    details     jsonb NOT NULL DEFAULT '{}',
    UNIQUE (case_id, version)
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);
CREATE INDEX case_events_at_idx ON case_events (at);

CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_events_no_update BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only();
