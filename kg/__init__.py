"""Passerelles: the open knowledge graph of employment and training for Normandy."""

__version__ = "0.1.0"
