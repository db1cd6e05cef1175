-- A certificate a manufacturer CA with the `pending` policy presents for a serial that already has a
-- device waits for an operator's approval before it authenticates anyone.
ALTER TABLE device_certificates ADD COLUMN pending boolean NOT NULL DEFAULT false;
