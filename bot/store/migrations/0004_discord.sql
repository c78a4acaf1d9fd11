-- Per-server settings, the roundup run log that makes each day's post exactly-once, and digest sources.
CREATE TABLE guild_settings (
    guild_id        TEXT PRIMARY KEY,
    channel_id      TEXT,
    post_time       TEXT NOT NULL DEFAULT '09:00',   -- HH:MM, local to tz
    tz              TEXT NOT NULL DEFAULT 'UTC',     -- IANA name
    lang            TEXT NOT NULL DEFAULT 'en',
    topic           TEXT,
    max_papers      INTEGER NOT NULL DEFAULT 8,
    enabled         INTEGER NOT NULL DEFAULT 0,
    note_when_empty INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One row per guild and local day. 'sending' is written before the first message goes out and
-- 'done' after the last, so a restart can tell a finished day from an interrupted one.
CREATE TABLE roundup_runs (
    guild_id     TEXT NOT NULL,
    local_date   TEXT NOT NULL,                      -- YYYY-MM-DD in the guild's time zone
    status       TEXT NOT NULL CHECK (status IN ('sending', 'done', 'empty', 'failed')),
    digest_date  TEXT,
    channel_id   TEXT,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    message_ids  TEXT NOT NULL DEFAULT '[]',         -- JSON list, appended as blocks are sent
    error        TEXT,
    PRIMARY KEY (guild_id, local_date)
);

CREATE TABLE sources (
    id              INTEGER PRIMARY KEY,
    location        TEXT NOT NULL UNIQUE,            -- http(s) URL or absolute folder path
    kind            TEXT NOT NULL CHECK (kind IN ('url', 'folder')),
    added_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    etag            TEXT,
    last_modified   TEXT,
    last_checked_at TEXT,
    last_success_at TEXT,
    last_error      TEXT,
    last_error_at   TEXT,
    last_report     TEXT                             -- one line: what the last fetch ingested
);
