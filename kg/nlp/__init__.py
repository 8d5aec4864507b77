"""Natural-language processing of job offers: occupation prediction, skill extraction."""
