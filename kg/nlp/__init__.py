"""Extraction from French job offers and RNCP blocs: skills linked to ROME items, emerging
skills, occupation predictions (see ``docs/readme/nlp.md``)."""
