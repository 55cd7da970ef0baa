-- A plate is unique within what the registering account can see, not city-wide: a unique
-- index over every territory answered "plate taken" for a vehicle the caller may not know
-- exists (an existence oracle across 属地). The check is now made by the server inside the
-- write's transaction, under an advisory lock on the plate (db::resources::plate_holder);
-- this index serves that lookup.
DROP INDEX resources_plate_key;
CREATE INDEX resources_plate_idx ON resources (upper(plate)) WHERE plate IS NOT NULL;
