-- The papers of the roundup entries in each stored block, as [[entry number, paper id], ...] per
-- block, so that a resumed run posts the same Discuss / Read buttons without reading the text back.
ALTER TABLE roundup_runs ADD COLUMN block_papers TEXT;
