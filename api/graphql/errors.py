"""GraphQL errors with a clear message and an ``extensions.code`` (never a stack trace).

>>> err = ApiError.not_found("occupation", "Z9999")
>>> err.message, err.extensions
("No occupation with code 'Z9999'.", {'code': 'NOT_FOUND'})
"""

from __future__ import annotations

from graphql import GraphQLError

NOT_FOUND = "NOT_FOUND"
BAD_USER_INPUT = "BAD_USER_INPUT"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
TIMEOUT = "TIMEOUT"
OVERLOADED = "OVERLOADED"  # shed before any work: retry after the Retry-After delay
FORBIDDEN = "FORBIDDEN"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
INTERNAL = "INTERNAL_SERVER_ERROR"


class ApiError(GraphQLError):
    """A GraphQL error carrying one of the codes above."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})

    @classmethod
    def not_found(cls, what: str, code: str) -> ApiError:
        return cls(f"No {what} with code {code!r}.", NOT_FOUND)

    @classmethod
    def bad_input(cls, message: str) -> ApiError:
        return cls(message, BAD_USER_INPUT)

    @classmethod
    def limit(cls, message: str) -> ApiError:
        return cls(message, LIMIT_EXCEEDED)
