-- A custom role records who last defined it and what that principal held then (permissions over a
-- scope, as grants): changing or deleting the role needs as much (docs/access-control.md,
-- "Delegation"). Roles defined before this have none recorded and count as defined by an owner.
ALTER TABLE roles ADD COLUMN defined_by text;
ALTER TABLE roles ADD COLUMN definer_grants jsonb;
