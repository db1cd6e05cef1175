-- A webhook delivery keeps its event as the exact JSON text that is signed and sent
-- (docs/integrations.md): a telemetry.batch event of 2,000 readings is about 100-250 KB, and as jsonb
-- it was parsed when written and turned back into text, then into an object and into JSON again, at
-- every claim. As text it is written once and sent as stored, byte for byte the same at every retry.
ALTER TABLE webhook_deliveries ALTER COLUMN event TYPE text USING event::text;
