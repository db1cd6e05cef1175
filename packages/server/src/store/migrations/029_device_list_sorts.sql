-- The device list's sorts (GET /v1/devices?sort=, domains/devices/sort.ts): one index per order, the
-- sort key then the id, so that a page is one range read of the index wherever it starts (keyset
-- paging: the cursor's key and id as a row comparison). The expressions are the ones sort.ts orders
-- by, spelled the same, so the planner matches them: a NULL has no place in a row comparison, so a
-- never-seen device sorts as last seen at -1 and a device that never reported firmware as the largest
-- version, after every real one. `id` uses devices_tenant_idx; `-lastSeen` reads its index backwards.
CREATE INDEX devices_name_sort_idx ON devices (tenant_id, name, id);
CREATE INDEX devices_last_seen_sort_idx ON devices (tenant_id, (COALESCE(last_seen_at, -1)), id);
CREATE INDEX devices_firmware_sort_idx ON devices (
  tenant_id,
  (COALESCE(fw_major, 2147483647)),
  (COALESCE(fw_minor, 2147483647)),
  (COALESCE(fw_patch, 2147483647)),
  (COALESCE(fw_pre, '~~')),
  id
);
