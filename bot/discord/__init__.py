"""paperbot on Discord: a thin layer of cogs over the service layer."""
