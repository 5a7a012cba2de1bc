"""The HTTP API (under /api) and the pages, as one FastAPI app."""
