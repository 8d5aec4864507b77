"""Streaming readers, one per official file format.

Each reader turns a file into :class:`~kg.sources.records.Record` objects (record number, cells)
and raises :class:`~kg.errors.SourceError` when the file cannot be read as its format.
"""

from kg.sources.records import Record, read_records

__all__ = ["Record", "read_records"]
