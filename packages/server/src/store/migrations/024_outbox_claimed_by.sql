-- Who claimed an outbox fact that is being handled: `<node id>:<run>`. A node that starts again frees
-- the facts its earlier run had claimed when it died, so they are handled at once rather than when
-- the claim lapses (a minute), as it does for job leases and webhook deliveries.
ALTER TABLE outbox ADD COLUMN claimed_by text;
