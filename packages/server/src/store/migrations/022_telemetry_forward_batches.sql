-- Telemetry to forward, one row per group commit and tenant instead of one per message
-- (docs/integrations.md): a commit of 2,000 messages writes one row, and the drain reads a second of
-- a tenant's telemetry in a few rows. `messages` is JSON text written by the server and read back whole,
-- never queried: [[deviceId, receivedAt, [[key, ts, value], …]], …]. Rows buffered by the earlier
-- layout are carried over, so nothing acknowledged and not yet forwarded is lost by the upgrade.
CREATE TABLE telemetry_forward_batches (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id text NOT NULL,
  messages text NOT NULL
);

INSERT INTO telemetry_forward_batches (tenant_id, messages)
SELECT f.tenant_id,
       jsonb_build_array(jsonb_build_array(
         f.device_id,
         f.received_at,
         (SELECT coalesce(jsonb_agg(jsonb_build_array(r->'key', r->'ts', r->'value') ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(f.readings) WITH ORDINALITY AS x(r, n))
       ))::text
  FROM telemetry_forward f
 ORDER BY f.id;

DROP TABLE telemetry_forward;
