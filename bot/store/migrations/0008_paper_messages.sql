-- Messages paperbot posted about one paper (a /paper card, a discussion thread's first
-- message), so a 👍 or 🔖 reaction on one is a vote for, or a save of, that paper.
CREATE TABLE paper_messages (
    message_id TEXT PRIMARY KEY,
    paper_id   INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    guild_id   TEXT NOT NULL,
    posted_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) WITHOUT ROWID;
