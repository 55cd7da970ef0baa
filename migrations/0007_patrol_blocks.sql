-- Patrol coverage, pre-aggregated (issue 6): the patrolled resolution-11 cells of each
-- resolution-8 block as a 343-bit bitmap, per hour and per UTC day, so that a county-wide
-- query over a day ORs a few thousand bitmaps instead of reading a row per cell and hour.
--
-- A resolution-8 cell has exactly 7^3 = 343 resolution-11 descendants. A cell's bit is the
-- base-7 number of its digits at resolutions 9, 10 and 11 (bits 18-20, 15-17 and 12-14 of the
-- H3 index): d9*49 + d10*7 + d11, bit 0 the leftmost of the bit string — the order of
-- h3o's children of the block (`gridwall_spatial::block_bit`). The block is the cell's
-- index with resolution 8 and the digits below 8 set to 7 (unused).
--
-- The server ORs bits in as it rolls up `track_cells` (same transaction, idempotent: OR);
-- the rows below are the backfill of what was rolled up before this migration.

CREATE TABLE patrol_blocks_hourly (
    -- The resolution-8 block, its H3 index as a bigint.
    block bigint NOT NULL,
    -- The hour (UTC) the points were taken in.
    hour  timestamptz NOT NULL,
    -- The block's resolution-11 cells an on-duty patrol passed through that hour.
    bits  bit(343) NOT NULL,
    PRIMARY KEY (block, hour)
);

CREATE TABLE patrol_blocks_daily (
    block bigint NOT NULL,
    -- Midnight UTC of the day.
    day   timestamptz NOT NULL,
    -- OR of the day's hourly bitmaps.
    bits  bit(343) NOT NULL,
    PRIMARY KEY (block, day)
);

INSERT INTO patrol_blocks_hourly (block, hour, bits)
SELECT (cell & ~(15::bigint << 52)) | (8::bigint << 52) | ((1::bigint << 21) - 1),
       hour,
       bit_or(set_bit(repeat('0', 343)::bit(343),
                      (((cell >> 18) & 7) * 49 + ((cell >> 15) & 7) * 7 + ((cell >> 12) & 7))::int,
                      1))
FROM track_cells
WHERE patrolled
GROUP BY 1, 2;

INSERT INTO patrol_blocks_daily (block, day, bits)
SELECT block, date_trunc('day', hour, 'UTC'), bit_or(bits)
FROM patrol_blocks_hourly
GROUP BY 1, 2;
