-- The roll-up reads new positions by arrival time every few seconds. The BRIN index of 0006
-- did not serve it: block ranges are summarised only by VACUUM, which on an append-only table
-- runs hours apart, and every unsummarised range is read whole — under load each pass
-- scanned the day's partition (measured: 11 M rows read to find 200,000). A B-tree on the
-- arrival time reads just the new rows; appends go to its right edge (cheap), and every row
-- of one commit shares one value (deduplicated).
DROP INDEX IF EXISTS positions_received_brin;
CREATE INDEX positions_received_at ON positions (received_at);
