-- How much the stored author list can be trusted, so a paper's authors come from its most
-- authoritative digest whatever the order digests arrive in: the source's rank (arXiv-derived
-- tables and Hugging Face lists 3, ChatPaper 2, LLM-written summaries 1, the generic fallback 0)
-- times two, plus one when the list is complete (not "First Author et.al.").
-- Lists stored before this column get 0: the next digest naming the paper may replace them.
ALTER TABLE papers ADD COLUMN authors_rank INTEGER NOT NULL DEFAULT 0;
