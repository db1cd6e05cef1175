-- Alert rules and alerts (docs/alerts.md). A rule watches the devices its target names: a threshold on
-- a telemetry key (with a `for` duration and a separate clear value), or the absence of telemetry or
-- of a connection for some minutes. The evaluator (a leased cluster job) keeps everything it knows in
-- these rows, so a restart or another node carries on where the last pass stopped.
CREATE TABLE alert_rules (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('threshold', 'absence')),
  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  enabled boolean NOT NULL,
  -- {tags?, deviceIds?}: every condition given must hold; {} is every device of the tenant.
  target jsonb NOT NULL,
  -- threshold: {key, op, value, clearValue, forSeconds}; absence: {minutes, of}.
  condition jsonb NOT NULL,
  created_at bigint NOT NULL,
  created_by text,
  updated_at bigint NOT NULL
);
CREATE INDEX alert_rules_tenant_idx ON alert_rules (tenant_id, id);
-- The evaluator's list of work.
CREATE INDEX alert_rules_enabled_idx ON alert_rules (id) WHERE enabled;

-- Per rule and device, what a pass must remember between passes: since when a threshold has been
-- breached without firing yet (`pending_since`, the evaluator's clock). A row exists only while that
-- is so: a restart in the middle of a `for` keeps it.
CREATE TABLE alert_states (
  rule_id text NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  pending_since bigint NOT NULL,
  value double precision,
  updated_at bigint NOT NULL,
  PRIMARY KEY (rule_id, device_id)
);

-- Alerts: firing → acknowledged → resolved. A resolved alert never opens again; the next breach is a
-- new row. Alerts outlive their rule (no foreign key on rule_id), not their device.
CREATE TABLE alerts (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  rule_id text NOT NULL,
  rule_name text NOT NULL,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  kind text NOT NULL,
  severity text NOT NULL,
  state text NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
  value double precision,
  reason text NOT NULL,
  fired_at bigint NOT NULL,
  acknowledged_at bigint,
  acknowledged_by text,
  resolved_at bigint,
  resolved_by text,
  resolved_value double precision,
  resolution text CHECK (resolution IN ('cleared', 'manual', 'rule_changed', 'rule_deleted', 'out_of_target')),
  updated_at bigint NOT NULL
);
-- At most one open alert per rule and device, whatever node or request opened it.
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (rule_id, device_id) WHERE state <> 'resolved';
CREATE INDEX alerts_tenant_idx ON alerts (tenant_id, id);
CREATE INDEX alerts_device_idx ON alerts (tenant_id, device_id, id);
CREATE INDEX alerts_rule_idx ON alerts (tenant_id, rule_id, id);
CREATE INDEX alerts_state_idx ON alerts (tenant_id, state, id);
