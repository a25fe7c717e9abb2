-- Users and API tokens are a projection of the log's control topic
-- (decision 0026). Each row records the log offset it was last written
-- from; 0 marks a row made before, which the node puts on the log at its
-- next start so that a rebuild recreates it.
ALTER TABLE users ADD COLUMN log_offset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN log_offset INTEGER NOT NULL DEFAULT 0;
