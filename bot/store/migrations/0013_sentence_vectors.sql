-- The reranker's vectors of each sentence of a paper's main text (the text of its "main"
-- facet), one row per paper and model: a question in plain words about one thing a paper does
-- is nearer the sentence that says it than the whole text (README: plain-words set recall@5
-- 0.84 -> 0.89). Read by paper for search's best candidates only, never scanned, so they need
-- no generation counter and no memory. An ordinary rowid table: WITHOUT ROWID would keep each
-- 8 KB matrix in overflow pages off the key's B-tree (reading 50 candidates' rows at 100,000
-- papers: 1.8 ms against 0.46 ms; SQLite advises WITHOUT ROWID for small rows only).
CREATE TABLE sentence_vectors (
    paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    dim      INTEGER NOT NULL,
    text_sha TEXT NOT NULL,   -- of the main text the sentences were cut from
    vectors  BLOB NOT NULL,   -- one L2-normalized float16 row per sentence, little-endian
    PRIMARY KEY (paper_id, embedder)
);
