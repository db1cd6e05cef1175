-- Device list filters by last seen and by certificate expiry (GET /v1/devices, POST /v1/devices/bulk).
--
-- lastSeenBefore / lastSeenAfter / neverSeen: one range (or IS NULL) on the tenant's last_seen_at.
CREATE INDEX devices_last_seen_idx ON devices (tenant_id, last_seen_at);
-- certificateExpiresBefore: a device matches when one of its live certificates (not revoked, not
-- pending approval) expires before T and none expires at T or later. Both probes per device, and the
-- tenant-wide "which expire before T", read this index alone.
CREATE INDEX device_certificates_live_idx ON device_certificates (tenant_id, device_id, not_after)
  WHERE revoked_at IS NULL AND NOT pending;
