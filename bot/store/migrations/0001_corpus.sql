-- The digest corpus: papers, where they were seen, and what was written about them.

CREATE TABLE digests (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,              -- file name as given
    path        TEXT,                       -- where it was read from, when a file
    sha256      TEXT NOT NULL UNIQUE,       -- same content = same digest: re-ingest is a no-op
    format      TEXT NOT NULL,              -- parser that read it
    digest_date TEXT,                       -- YYYY-MM-DD the digest states, when it does
    paper_count INTEGER NOT NULL DEFAULT 0,
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- One row per paper however many digests mention it. Identity: the arXiv id without version;
-- papers known only by title are found by title_hash and get their arXiv id when one arrives.
CREATE TABLE papers (
    id            INTEGER PRIMARY KEY,
    arxiv_id      TEXT UNIQUE,
    arxiv_version TEXT,
    title         TEXT NOT NULL,
    title_hash    TEXT NOT NULL,
    authors       TEXT NOT NULL DEFAULT '[]',  -- JSON list, in the paper's order
    abstract      TEXT,                        -- English abstract when known
    published     TEXT,                        -- YYYY-MM-DD
    votes         INTEGER,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX papers_title_hash ON papers(title_hash);
CREATE INDEX papers_published ON papers(published);

CREATE TABLE paper_topics (
    paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    topic    TEXT NOT NULL,
    PRIMARY KEY (paper_id, topic)
) WITHOUT ROWID;

CREATE TABLE paper_links (
    paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,                    -- code, project, pdf
    url      TEXT NOT NULL,
    PRIMARY KEY (paper_id, kind, url)
) WITHOUT ROWID;

-- Which digests mention which papers (and the votes a digest gave it).
CREATE TABLE paper_digests (
    paper_id  INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    digest_id INTEGER NOT NULL REFERENCES digests(id) ON DELETE CASCADE,
    votes     INTEGER,
    PRIMARY KEY (paper_id, digest_id)
) WITHOUT ROWID;
CREATE INDEX paper_digests_digest ON paper_digests(digest_id);

-- Any number of texts about a paper: translations, summaries, takeaways, FAQ answers, from
-- digests (digest_id) or written by paperbot's LLM (model, prompt_version).
CREATE TABLE summaries (
    id             INTEGER PRIMARY KEY,
    paper_id       INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    lang           TEXT NOT NULL,              -- BCP-47
    kind           TEXT NOT NULL,
    text           TEXT NOT NULL,
    text_sha       TEXT NOT NULL,
    digest_id      INTEGER REFERENCES digests(id) ON DELETE SET NULL,
    model          TEXT,
    prompt_version TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (paper_id, kind, lang, text_sha)
);

-- Keyword search: one document per paper. CJK runs are stored as overlapping bigrams (see
-- bot/retrieval/lexical.py), so Chinese and Korean are searchable with the word tokenizer.
CREATE VIRTUAL TABLE papers_fts USING fts5(
    title, authors, abstract, summaries,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
