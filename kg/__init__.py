"""Passerelles: the open knowledge graph of employment and training for Normandy."""

from kg import polars_threads

__version__ = "0.1.0"

# Before any kg module imports polars, which reads its pool size once (kg.polars_threads).
polars_threads.apply()
