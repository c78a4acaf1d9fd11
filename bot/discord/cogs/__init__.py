"""One cog per feature area: papers, questions, summaries, roundup, admin, reading room."""

EXTENSIONS = (
    "bot.discord.cogs.papers",
    "bot.discord.cogs.questions",
    "bot.discord.cogs.summaries",
    "bot.discord.cogs.roundup",
    "bot.discord.cogs.admin",
    "bot.discord.cogs.reading",
)
