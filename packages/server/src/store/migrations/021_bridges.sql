-- MQTT bridges (docs/integrations.md#mqtt-bridge): per tenant, a connection to the customer's own
-- broker that carries chosen platform events. Secrets (password, client key) are sealed with the
-- platform's secret key. The status columns are written by the node forwarding the bridge; the spool
-- counters (spool_rows, spool_bytes) are kept with every insert and delete of the bridge's spool rows,
-- under the bridge row's lock, so the byte cap is enforced without summing the spool.
CREATE TABLE bridges (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  url text NOT NULL,
  username text,
  password_sealed text,
  client_cert text,
  client_key_sealed text,
  ca text,
  topic_template text NOT NULL,
  event_types text[] NOT NULL,
  device_tags text[],
  qos smallint NOT NULL CHECK (qos IN (0, 1)),
  spool_max_bytes bigint NOT NULL,
  spool_max_age_seconds integer NOT NULL,
  enabled boolean NOT NULL,
  created_at bigint NOT NULL,
  -- grows with every change of the settings: a forwarder running older settings reconnects
  revision integer NOT NULL DEFAULT 1,
  updated_at bigint NOT NULL,
  -- the forwarder's lease: one node at a time forwards a bridge (database clock)
  lease_holder text,
  lease_until timestamptz,
  -- status
  connected boolean NOT NULL DEFAULT false,
  last_connected_at bigint,
  last_error text,
  last_error_at bigint,
  spool_rows bigint NOT NULL DEFAULT 0,
  spool_bytes bigint NOT NULL DEFAULT 0,
  forwarded bigint NOT NULL DEFAULT 0,
  dropped bigint NOT NULL DEFAULT 0,
  last_dropped_at bigint,
  -- drops counted but not yet written to the audit trail (one record per bridge per minute at most)
  drops_unaudited bigint NOT NULL DEFAULT 0,
  drops_audited_at bigint
);
CREATE INDEX bridges_tenant_idx ON bridges (tenant_id, id);

-- Messages waiting for the remote broker, in seq order per bridge. A row is deleted when the broker
-- acknowledged it (PUBACK at QoS 1, written to the socket at QoS 0) or when a cap drops it.
CREATE TABLE bridge_spool (
  bridge_id text NOT NULL REFERENCES bridges(id) ON DELETE CASCADE,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  tenant_id text NOT NULL,
  topic text NOT NULL,
  payload bytea NOT NULL,
  bytes integer NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (bridge_id, seq)
);
CREATE INDEX bridge_spool_age_idx ON bridge_spool (bridge_id, created_at);
