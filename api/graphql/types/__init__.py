"""One module per GraphQL object type; fields come from :mod:`api.graphql.fieldmap`."""
