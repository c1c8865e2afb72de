"""rostersync: K-12 roster sync with safety holds (shared domain package)."""

__version__ = "0.1.0"
