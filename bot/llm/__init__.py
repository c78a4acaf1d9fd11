"""Everything that talks to an LLM: the client, its one retry layer, token budgets, the ledger."""
