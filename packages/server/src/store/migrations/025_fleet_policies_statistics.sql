-- Statistics for fleet_policies, so that `belowMinimum` (GET /v1/devices, POST /v1/devices/bulk) is
-- planned as one index range scan per policy row rather than a scan of the tenant's devices.
--
-- The table holds a few rows per tenant and is never analysed otherwise: PGlite has no autovacuum,
-- and PostgreSQL's analyses a table only after 50 changed rows. A table never analysed is taken to
-- be 10 pages of rows whose hardware classes match few devices, so the planner joined the policies
-- to every device of the tenant by hash (with 100,000 devices: 85 ms for a page of 500 on PGlite,
-- 50 ms on PostgreSQL). Once analysed, even while empty, the planner sizes it from its actual pages
-- and keeps to the index (devices_fleet_class_key_idx) or to the id order of the page.
ANALYZE fleet_policies;
