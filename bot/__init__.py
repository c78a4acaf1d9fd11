"""paperbot: a library of daily arXiv paper digests, searchable, answerable, summarized."""

__version__ = "0.1.0"
