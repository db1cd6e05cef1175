-- What the platform refused a device, or held it back from, that no other table keeps: publishes the
-- broker refused (the notice on d/{id}/errors) and connects of an authenticated device that were
-- refused. Later kinds (rate limits) go here too. A device flooding refusals cannot turn each one
-- into a row: the broker stores at most one per device and code per window and counts the others
-- in `suppressed` (docs/mqtt.md#refusals-are-kept). Housekeeping deletes rows past their keeping.
CREATE TABLE device_refusals (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  at bigint NOT NULL,
  kind text NOT NULL,
  code text NOT NULL,
  topic text,
  message text NOT NULL,
  suppressed integer NOT NULL DEFAULT 0
);
CREATE INDEX device_refusals_tenant_idx ON device_refusals (tenant_id, at);
CREATE INDEX device_refusals_device_idx ON device_refusals (tenant_id, device_id, at);
CREATE INDEX device_refusals_at_idx ON device_refusals (at);

-- Recent failures and refusals (GET /v1/fleet/problems) read the tenant's newest failures from the
-- tables that keep them; these partial indexes hold only those rows.
CREATE INDEX presence_events_abnormal_idx ON presence_events (tenant_id, at)
  WHERE event = 'disconnected'
    AND reason IN ('connection_lost', 'keepalive_timeout', 'protocol_error', 'slow_consumer', 'session_taken_over');
CREATE INDEX device_events_error_idx ON device_events (tenant_id, ts)
  WHERE severity IN ('error', 'critical');
CREATE INDEX deployment_devices_failed_idx ON deployment_devices (tenant_id, updated_at)
  WHERE state IN ('failed', 'rolled_back', 'rejected', 'timed_out');
CREATE INDEX provisioning_operations_rejected_idx ON provisioning_operations (tenant_id, decided_at)
  WHERE status IN ('rejected', 'locked');

-- A device's audit records (GET /v1/audit?deviceId=): those whose target is the device, and those
-- about another target (a certificate's serial, a deployment) that name the device in changes.
CREATE INDEX audit_records_target_idx ON audit_records (tenant_id, target, seq);
CREATE INDEX audit_records_device_idx ON audit_records (tenant_id, (changes ->> 'deviceId'), seq)
  WHERE changes ? 'deviceId';
