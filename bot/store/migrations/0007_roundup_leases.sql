-- Exactly once across processes (two bots on one database during an overlapping restart, or
-- shards in separate processes):
-- - a run is owned: `owner` holds it until `lease_until` (renewed as each block goes out), so a
--   second process leaves a live run alone and takes over only one whose owner died;
-- - `blocks` are the messages of the roundup, stored before the first is sent, so a resumed run
--   posts the rest of the same roundup, never a rebuilt one; `outcome` is what the run will be
--   marked when they are all out ('done', or 'empty' for a day without new papers);
-- - a transient error (Discord or the network failing) is retried at `retry_at`, with backoff,
--   until `attempts` reaches PAPERBOT_ROUNDUP_ATTEMPTS; only then is the run 'failed'.
ALTER TABLE roundup_runs ADD COLUMN owner TEXT;
ALTER TABLE roundup_runs ADD COLUMN lease_until TEXT;
ALTER TABLE roundup_runs ADD COLUMN blocks TEXT;
ALTER TABLE roundup_runs ADD COLUMN outcome TEXT CHECK (outcome IN ('done', 'empty'));
ALTER TABLE roundup_runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE roundup_runs ADD COLUMN retry_at TEXT;
CREATE INDEX roundup_runs_unfinished ON roundup_runs (status) WHERE status = 'sending';
