-- Costs are what was spent: token counts the server did not report are estimates, and say so.
ALTER TABLE llm_calls ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0;

-- How many tokens a model counts per local (tiktoken) token, learned from the server's reported
-- usage when it offers no /tokenize; kept so a restart does not overflow the window again.
CREATE TABLE llm_token_calibration (
    endpoint TEXT NOT NULL,
    model    TEXT NOT NULL,
    ratio    REAL NOT NULL,
    samples  INTEGER NOT NULL,
    updated  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (endpoint, model)
);

-- Roundup summaries the model was asked for and did not deliver in a usable form (unparseable,
-- wrong language): a rerun the same day does not pay for them again, and says why.
CREATE TABLE roundup_misses (
    paper_id       INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    lang           TEXT NOT NULL,
    model          TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    day            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d', 'now')),  -- UTC
    reason         TEXT NOT NULL,
    PRIMARY KEY (paper_id, lang, model, prompt_version, day)
);
