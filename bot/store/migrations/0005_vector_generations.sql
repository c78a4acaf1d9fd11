-- A counter per embedder that moves whenever one of its vectors is added, replaced or deleted,
-- so a long-lived search index knows in one lookup whether to reload (counting 300,000
-- vectors took 25 ms on every search, and missed a vector replaced in place).
CREATE TABLE vector_generations (
    embedder   TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO vector_generations (embedder, generation)
SELECT embedder, 1 FROM paper_vectors GROUP BY embedder;

CREATE TRIGGER paper_vectors_added AFTER INSERT ON paper_vectors BEGIN
    INSERT INTO vector_generations (embedder, generation) VALUES (NEW.embedder, 1)
    ON CONFLICT (embedder) DO UPDATE SET generation = generation + 1;
END;

CREATE TRIGGER paper_vectors_changed AFTER UPDATE ON paper_vectors BEGIN
    UPDATE vector_generations SET generation = generation + 1 WHERE embedder IN (OLD.embedder, NEW.embedder);
END;

CREATE TRIGGER paper_vectors_removed AFTER DELETE ON paper_vectors BEGIN
    UPDATE vector_generations SET generation = generation + 1 WHERE embedder = OLD.embedder;
END;
