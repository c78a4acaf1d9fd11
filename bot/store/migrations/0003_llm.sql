-- Every LLM call, for usage reports, cost estimates and daily token budgets.
CREATE TABLE llm_calls (
    id                INTEGER PRIMARY KEY,
    ts                TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    day               TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d', 'now')),  -- UTC
    feature           TEXT NOT NULL,       -- ask, summarize, roundup, rewrite_query, embed ...
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    outcome           TEXT NOT NULL,       -- ok, or the error's kind
    guild_id          TEXT,
    user_id           TEXT,
    cost_usd          REAL NOT NULL DEFAULT 0
);
CREATE INDEX llm_calls_day ON llm_calls(day, guild_id);

-- LLM-written summaries are found by what produced them: a changed prompt or model regenerates.
CREATE INDEX summaries_generated ON summaries(paper_id, kind, lang, model, prompt_version);
