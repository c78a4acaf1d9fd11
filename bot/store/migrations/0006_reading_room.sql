-- The group's reading room (issue 16): votes, reading lists, members' languages, watches and
-- discussion threads. Everything about a member is keyed by (guild_id, user_id) so reading
-- lists and watches stay per server; `paperbot console` is the member ('console', 'console').

-- 👍 "worth reading": one row per member and paper, so a member counts once however often
-- they react; removing the reaction deletes the row.
CREATE TABLE paper_votes (
    guild_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    voted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, user_id, paper_id)
) WITHOUT ROWID;
CREATE INDEX paper_votes_by_time ON paper_votes(guild_id, voted_at);

-- 🔖 or /save: a member's reading list in one server.
CREATE TABLE reading_list (
    guild_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    saved_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, user_id, paper_id)
) WITHOUT ROWID;

-- A member's language, the same in every server (it is about the person, not the server).
CREATE TABLE member_languages (
    user_id TEXT PRIMARY KEY,
    lang    TEXT NOT NULL
);

-- Topic or author watches. The query's embedding is kept so matching a day's papers needs no
-- model call per watch; it is recomputed when the embedder changes.
CREATE TABLE watches (
    id         INTEGER PRIMARY KEY,
    guild_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    query      TEXT NOT NULL,
    embedder   TEXT,
    vector     BLOB,
    after_paper_id INTEGER NOT NULL,         -- a watch is about papers that arrive after it
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (guild_id, user_id, query)
);

-- A paper found for a member by one of their watches: found once per member and paper
-- ('pending'), then sent by DM ('sent'), left for the roundup's daily line when DMs are closed
-- ('roundup', then 'sent'), or dropped past the member's daily cap ('capped').
CREATE TABLE watch_matches (
    guild_id     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    paper_id     INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    watch_id     INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,              -- 'topic' or 'author'
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'roundup', 'capped')),
    found_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    delivered_on TEXT,                       -- YYYY-MM-DD (UTC) it was sent or capped
    PRIMARY KEY (guild_id, user_id, paper_id)
) WITHOUT ROWID;
CREATE INDEX watch_matches_status ON watch_matches(status, guild_id);

-- Papers above this id have not been matched against the watches yet; starting at today's
-- newest paper, so a fresh watch is about papers that arrive after it.
CREATE TABLE watch_scan (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_paper_id INTEGER NOT NULL
);
INSERT INTO watch_scan (id, last_paper_id) SELECT 1, coalesce(max(id), 0) FROM papers;

-- One discussion thread per paper per channel.
CREATE TABLE paper_threads (
    channel_id TEXT NOT NULL,
    paper_id   INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    guild_id   TEXT NOT NULL,
    thread_id  TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (channel_id, paper_id)
) WITHOUT ROWID;

-- Optional: the roundup ranks a day's papers by the group's votes on related earlier papers.
ALTER TABLE guild_settings ADD COLUMN rank_by_group_votes INTEGER NOT NULL DEFAULT 0;
