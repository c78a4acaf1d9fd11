-- A watch's query embedded by the reranker too (issue 17): matching by meaning averages both
-- models' scores where a paper has the reranker's vector. Like `embedder` and `vector`, these
-- are recomputed when the reranker changes; NULL until then (older watches, reranker off).
ALTER TABLE watches ADD COLUMN reranker TEXT;
ALTER TABLE watches ADD COLUMN reranker_vector BLOB;
