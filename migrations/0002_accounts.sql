-- Accounts, sessions, devices, trackable resources and the audit log (issue 3), and the
-- nested-set numbering of units that territorial scope (属地) filters on.

-- Pre-order numbering of the hierarchy: a unit's subtree is exactly the units whose tree_lo
-- lies in [tree_lo, tree_hi] of that unit, so "in scope" is one range test on an index.
ALTER TABLE units ADD COLUMN tree_lo integer, ADD COLUMN tree_hi integer;
CREATE INDEX units_tree_idx ON units (tree_lo);

-- Renumbers the whole tree; the importer calls it after every import, in its transaction.
CREATE FUNCTION units_number_tree() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Sorting by the path of codes from the root lists every subtree contiguously.
    WITH RECURSIVE t AS (
        SELECT id, ARRAY[code] AS path FROM units WHERE parent_id IS NULL
        UNION ALL
        SELECT c.id, t.path || c.code FROM units c JOIN t ON c.parent_id = t.id
    ), o AS (
        SELECT id, row_number() OVER (ORDER BY path COLLATE "C")::integer AS lo FROM t
    )
    UPDATE units u SET tree_lo = o.lo, tree_hi = o.lo FROM o WHERE u.id = o.id;
    -- tree_hi is the greatest tree_lo below: fold children into parents, bottom level first.
    FOR child_level IN REVERSE 4..1 LOOP
        UPDATE units p SET tree_hi = greatest(p.tree_hi, c.hi)
        FROM (SELECT parent_id, max(tree_hi) AS hi FROM units
              WHERE level = child_level GROUP BY parent_id) c
        WHERE p.id = c.parent_id;
    END LOOP;
END $$;

SELECT units_number_tree();

CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username            text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$'),
    display_name        text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    role                text NOT NULL
                        CHECK (role IN ('admin', 'leader', 'dispatcher', 'operator', 'worker')),
    -- The root of the user's territory; NULL = the whole hierarchy (never for a worker).
    scope_unit_id       bigint REFERENCES units (id),
    phone               text CHECK (phone ~ '^\+?[0-9][0-9 -]{2,30}$'),
    -- Argon2id, PHC string format.
    password_hash       text NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    disabled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'worker' OR scope_unit_id IS NOT NULL),
    -- An admin manages everything; a territory would be a false promise.
    CHECK (role <> 'admin' OR scope_unit_id IS NULL)
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_scope_idx ON users (scope_unit_id);

-- Browser and API sessions. The token itself is never stored: only its SHA-256.
CREATE TABLE sessions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    -- Absolute expiry; the idle expiry is last_seen_at + idle_timeout_s.
    expires_at     timestamptz NOT NULL,
    idle_timeout_s integer NOT NULL CHECK (idle_timeout_s > 0),
    revoked_at     timestamptz,
    revoke_reason  text,
    address        inet,
    user_agent     text
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Failed logins per key ('user:<name>' or 'addr:<ip>') within a window, and lock-outs.
CREATE TABLE login_throttle (
    key              text PRIMARY KEY,
    failures         integer NOT NULL,
    first_failure_at timestamptz NOT NULL,
    locked_until     timestamptz
);

-- What the wall tracks: grid workers (and, with the live issue, vehicles). A worker's unit is
-- their home grid; it decides whose territory the worker belongs to.
CREATE TABLE resources (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('worker', 'vehicle')),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    phone        text CHECK (phone ~ '^\+?[0-9][0-9 -]{2,30}$'),
    unit_id      bigint NOT NULL REFERENCES units (id),
    -- The worker's own account (role worker), when they have one.
    user_id      bigint UNIQUE REFERENCES users (id),
    skills       text[] NOT NULL DEFAULT '{}',
    on_duty      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz
);
CREATE INDEX resources_unit_idx ON resources (unit_id);

-- A phone's credential: may only post positions for its resource. Stored as SHA-256.
CREATE TABLE devices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_id  bigint NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    created_by   bigint REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX devices_resource_idx ON devices (resource_id) WHERE revoked_at IS NULL;

-- Who did what, when, to which unit or entity, from where. Append-only: rows can be added,
-- never changed or removed (the trigger below refuses it, whoever asks).
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The user (NULL for the CLI, a device or an unknown name at login); actor names them.
    user_id     bigint,
    actor       text NOT NULL,
    role        text,
    action      text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    unit_code   text,
    entity_type text,
    entity_id   text,
    address     inet,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_user_idx ON audit_log (user_id, at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
