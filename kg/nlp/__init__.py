"""Natural-language processing of job offers and RNCP blocs (issue #4): occupation prediction, skill
extraction, and its evaluation."""
