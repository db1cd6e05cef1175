-- When each artifact chunk was written: chunks with no artifact row whose newest chunk is older than
-- the abandoned-upload age belong to an upload that a server stopped or died during (the upload's
-- own failure path deletes them when it can); the `artifact-upload-cleanup` job removes them.
ALTER TABLE artifact_chunks ADD COLUMN written_at bigint NOT NULL DEFAULT 0;
