-- Deployments (docs/ota.md): an artifact rolled out to a snapshot of devices in phases. The health
-- gate's reads of presence_events and device_events use their (device_id, time) indexes of 001.
--
-- Everything the orchestrator knows is in these rows, so that a node that dies mid-phase leaves
-- nothing behind but rows another node (or the same one, restarted) picks up: each device moves from
-- state to state in one UPDATE guarded by its current state and attempt, in the transaction that also
-- writes its outbox fact and the deployment's counters.
CREATE TABLE deployments (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text,
  artifact_id text NOT NULL REFERENCES artifacts(id),
  status text NOT NULL CHECK (status IN ('active', 'paused', 'completed', 'aborted', 'stopped')),
  status_code text,
  status_reason text,
  -- The request as given, and what it resolved to: phases with their device counts, rules, timeouts.
  target jsonb NOT NULL,
  settings jsonb NOT NULL,
  excluded jsonb NOT NULL,
  total integer NOT NULL,
  current_phase integer NOT NULL DEFAULT 0,
  phase_started_at bigint,
  -- When the current phase's devices all finished and its soak ends: the next phase may start then.
  soak_until bigint,
  -- An exponential rate: offers made in the current minute (rate_minute = epoch ms / 60000).
  rate_minute bigint,
  rate_offers integer NOT NULL DEFAULT 0,
  executions integer NOT NULL DEFAULT 0,
  failures integer NOT NULL DEFAULT 0,
  health jsonb,
  created_at bigint NOT NULL,
  created_by text,
  updated_at bigint NOT NULL,
  finished_at bigint
);
CREATE INDEX deployments_tenant_idx ON deployments (tenant_id, id);
CREATE INDEX deployments_running_idx ON deployments (id) WHERE status = 'active';

-- One row per targeted device: its operation. `rank` orders the devices for the phases (a phase
-- covers ranks below its cut). A device has at most one open operation across deployments.
CREATE TABLE deployment_devices (
  operation_id text PRIMARY KEY,
  deployment_id text NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  rank integer NOT NULL,
  state text NOT NULL CHECK (state IN ('queued', 'offered', 'accepted', 'deferred', 'downloading', 'downloaded',
    'installing', 'rebooting', 'succeeded', 'failed', 'rolled_back', 'rejected', 'timed_out', 'cancelled')),
  attempt integer NOT NULL DEFAULT 0,
  progress integer,
  code text,
  reason text,
  from_version text,
  state_since bigint,
  deadline_at bigint,
  next_attempt_at bigint,
  -- A cancel the device has yet to acknowledge (it had the offer when the operation was cancelled).
  cancel_pending boolean NOT NULL DEFAULT false,
  succeeded_at bigint,
  updated_at bigint NOT NULL,
  open boolean GENERATED ALWAYS AS (state NOT IN ('succeeded', 'failed', 'rolled_back', 'rejected', 'timed_out', 'cancelled')) STORED
);
CREATE UNIQUE INDEX deployment_devices_rank_idx ON deployment_devices (deployment_id, rank);
CREATE INDEX deployment_devices_state_idx ON deployment_devices (deployment_id, state, rank);
-- One open operation per device, whichever deployment it belongs to.
CREATE UNIQUE INDEX deployment_devices_one_open ON deployment_devices (tenant_id, device_id) WHERE open;
CREATE INDEX deployment_devices_device_idx ON deployment_devices (tenant_id, device_id, operation_id);
-- The timeout sweep: open operations with a deadline, soonest first.
CREATE INDEX deployment_devices_deadline_idx ON deployment_devices (deadline_at) WHERE deadline_at IS NOT NULL;

-- A tenant's OTA emergency stop: while a row exists no deployment of the tenant offers, and none may
-- be created or resumed.
CREATE TABLE ota_emergency_stops (
  tenant_id text PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
  since bigint NOT NULL,
  by_actor text,
  reason text
);

-- Facts of types no node handles yet (the OTA facts, until webhooks consume them) stay undelivered:
-- the delivery job claims by type, so it must not walk them every second.
CREATE INDEX outbox_due_type_idx ON outbox (type, next_attempt_at, id) WHERE done_at IS NULL;
