"""The read-only HTTP API of Passerelles (FastAPI)."""
