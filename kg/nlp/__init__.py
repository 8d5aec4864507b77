"""Natural-language processing of job offers and RNCP blocs: occupation prediction, skills
linked to ROME items, emerging skills, block coverage (see ``docs/readme/nlp.md``)."""
