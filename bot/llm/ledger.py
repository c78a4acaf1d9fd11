"""The usage ledger: one row per LLM call, totals for `paperbot stats`, spend for budgets."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store import Database


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    prompt_per_mtok: float
    completion_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_mtok + completion_tokens * self.completion_per_mtok) / 1e6


async def record_call(
    db: Database,
    *,
    feature: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    latency_ms: int,
    outcome: str,
    prices: Prices,
    guild_id: str | None = None,
    user_id: str | None = None,
    estimated: bool = False,
) -> None:
    """One call. `estimated` marks token counts paperbot made because the server reported none."""
    await db.execute(
        "INSERT INTO llm_calls (feature, model, prompt_tokens, completion_tokens, latency_ms, outcome, "
        "guild_id, user_id, cost_usd, usage_estimated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            feature, model, prompt_tokens, completion_tokens, latency_ms, outcome, guild_id, user_id,
            prices.cost(prompt_tokens, completion_tokens), int(estimated),
        ),
    )


async def tokens_spent_today(db: Database, guild_id: str | None = None) -> int:
    """Prompt plus completion tokens of today's (UTC) calls, of one guild when given."""
    if guild_id is None:
        sql, params = "SELECT sum(prompt_tokens + completion_tokens) FROM llm_calls WHERE day = strftime('%Y-%m-%d', 'now')", ()
    else:
        sql = (
            "SELECT sum(prompt_tokens + completion_tokens) FROM llm_calls "
            "WHERE day = strftime('%Y-%m-%d', 'now') AND guild_id = ?"
        )
        params = (guild_id,)
    return await db.fetchval(sql, params, default=0) or 0


async def usage_report(db: Database, days: int = 30) -> dict:
    """Calls, tokens and estimated cost by feature and by day, over the last `days` days."""

    async def grouped(column: str) -> list[dict]:
        rows = await db.fetchall(
            f"SELECT {column} AS key, count(*) AS calls, sum(outcome = 'ok') AS ok, "
            "sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, "
            "round(sum(cost_usd), 6) AS cost_usd, sum(usage_estimated) AS estimated_calls FROM llm_calls "
            "WHERE day >= date('now', ?) GROUP BY key ORDER BY key",
            (f"-{days} days",),
        )
        return [dict(row) for row in rows]

    return {"by_feature": await grouped("feature"), "by_day": await grouped("day")}
