-- A user whose password was handed out (the bootstrap administrator's, written to a file) must choose
-- a new one before anything else: its sessions may only change the password until then.
ALTER TABLE users ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;
