"""The GraphQL API (strawberry over the store's named queries): ``router`` serves ``/graphql``."""

from api.graphql.router import router

__all__ = ["router"]
