-- Where each worker or vehicle belonged, and since when: a territory sees a resource's track
-- only for the time the resource was at home in it (属地). A worker re-homed from village A to
-- village B brings no earlier track into B; A, which no longer sees the worker, keeps nothing
-- it could read either; a county above both sees the whole track.
--
-- Kept by triggers, so every write of resources.unit_id (API, CLI, SQL) records the move.
-- The first home runs from -infinity: points a phone sends late, from before the resource
-- was registered, are its first home's. unit_id has no foreign key on purpose: a re-import
-- may drop a unit nobody is at home in any more, and the history must not block it (such an
-- interval is then visible to city-wide accounts only).
CREATE TABLE resource_homes (
    resource_id bigint      NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    unit_id     bigint      NOT NULL,
    since       timestamptz NOT NULL,
    until       timestamptz,
    PRIMARY KEY (resource_id, since),
    CHECK (until IS NULL OR until > since)
);
CREATE UNIQUE INDEX resource_homes_current ON resource_homes (resource_id) WHERE until IS NULL;

INSERT INTO resource_homes (resource_id, unit_id, since)
    SELECT id, unit_id, '-infinity' FROM resources;

CREATE FUNCTION resource_homes_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_homes (resource_id, unit_id, since)
            VALUES (NEW.id, NEW.unit_id, '-infinity');
    ELSIF NEW.unit_id IS DISTINCT FROM OLD.unit_id THEN
        UPDATE resource_homes SET until = clock_timestamp()
            WHERE resource_id = NEW.id AND until IS NULL;
        INSERT INTO resource_homes (resource_id, unit_id, since)
            VALUES (NEW.id, NEW.unit_id, clock_timestamp());
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER resources_home_follow
    AFTER INSERT OR UPDATE OF unit_id ON resources
    FOR EACH ROW EXECUTE FUNCTION resource_homes_follow();
