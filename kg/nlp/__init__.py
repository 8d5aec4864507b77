"""Natural-language processing of job offers and RNCP blocs (issue #4): extraction and its evaluation."""
