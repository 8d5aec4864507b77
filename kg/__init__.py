"""Passerelles: the open knowledge graph of employment and training for Normandy."""

from kg import allocator, polars_threads

__version__ = "0.1.0"

# Before any kg module imports polars, which reads its pool size once (kg.polars_threads); a bad
# setting stops the `kg` command with one line, and raises ValueError in any other importer.
polars_threads.apply_for_command(polars_threads.apply)
# The same, for how the allocators keep freed memory (kg.allocator: fewer page faults per block).
polars_threads.apply_for_command(allocator.apply)
