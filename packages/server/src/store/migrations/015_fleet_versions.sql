-- Fleet versions: the firmware each device reports running, and a minimum supported version per
-- hardware class for each tenant.
--
-- fw_major, fw_minor, fw_patch and fw_pre are the version's sort key (`parseSemver` in the protocol
-- package): compared as the row (fw_major, fw_minor, fw_patch, fw_pre) they give SemVer precedence,
-- fw_pre in byte order ("C" collation), '~' for a release. So "below a version" is one row comparison
-- an index answers.
ALTER TABLE devices ADD COLUMN firmware_version text;
ALTER TABLE devices ADD COLUMN hardware_class text;
ALTER TABLE devices ADD COLUMN firmware_reported_at bigint;
ALTER TABLE devices ADD COLUMN fw_major integer;
ALTER TABLE devices ADD COLUMN fw_minor integer;
ALTER TABLE devices ADD COLUMN fw_patch integer;
ALTER TABLE devices ADD COLUMN fw_pre text COLLATE "C";

-- The distribution: counts by hardware class and version, read from the index alone.
CREATE INDEX devices_fleet_versions_idx ON devices (tenant_id, hardware_class, firmware_version);
-- Devices below a version, per hardware class (the policy) or across classes (?belowVersion).
CREATE INDEX devices_fleet_class_key_idx ON devices (tenant_id, hardware_class, fw_major, fw_minor, fw_patch, fw_pre);
CREATE INDEX devices_fleet_key_idx ON devices (tenant_id, fw_major, fw_minor, fw_patch, fw_pre);

CREATE TABLE fleet_policies (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  hardware_class text NOT NULL,
  min_version text NOT NULL,
  min_major integer NOT NULL,
  min_minor integer NOT NULL,
  min_patch integer NOT NULL,
  min_pre text COLLATE "C" NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (tenant_id, hardware_class)
);
