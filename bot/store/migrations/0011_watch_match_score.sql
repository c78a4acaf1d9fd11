-- How well a paper matched the watch that found it (the watch's z-score for the paper; NULL when
-- the paper had no vector yet), so that a member's daily cap keeps the best matches.
ALTER TABLE watch_matches ADD COLUMN score REAL;
