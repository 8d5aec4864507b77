"""Settings, read once from the environment (prefix ``PASSERELLES_``).

>>> s = Settings.from_env({"PASSERELLES_BASE_IRI": "https://example.org/"})
>>> s.base_iri
'https://example.org/'
>>> s.id_base
'https://example.org/id/'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_IRI = "https://w3id.org/passerelles/"


@dataclass(frozen=True)
class Settings:
    """Where things are and how they are named; every field has an environment variable."""

    base_iri: str = DEFAULT_BASE_IRI
    store: Path = field(default_factory=lambda: PROJECT_ROOT / "var" / "store")
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT.parent / "shared" / "data")
    host: str = "127.0.0.1"
    port: int = 8000
    query_timeout_s: float = 30.0
    result_cap: int = 10_000
    query_workers: int = 0  # worker processes of /sparql (0: one per CPU, at least 2)
    query_threads: int = 0  # query threads per worker process, sharing its store (0: 4)
    rate_limit: float = 120.0  # queries per minute per client (0: no limit)
    rate_burst: int = 30  # queries a client may send at once before the rate applies
    query_endpoint: str = ""  # a SPARQL endpoint URL to run /sparql queries on instead of worker processes
    # A remote store (kg/remote_store.py): the served graph lives in a SPARQL 1.1 Query + Update +
    # Graph Store Protocol server at this base URL (Oxigraph server paths /query, /update, /store,
    # each overridable) instead of the embedded pyoxigraph directory.
    store_endpoint: str = ""
    store_query_url: str = ""
    store_update_url: str = ""
    store_gsp_url: str = ""
    # GraphQL limits (api/graphql): depth, cost, aliases per request; timeout; introspection; an
    # allow-list folder of .graphql files (when set, only those queries run: persisted queries).
    graphql_max_depth: int = 15
    graphql_max_cost: int = 50_000
    graphql_max_aliases: int = 30
    graphql_timeout_s: float = 10.0
    # GraphQL executions at once in the app process, and the longest wait for a place before a
    # request is shed with 503 + Retry-After (api/graphql/admission.py; 0: no bound).
    graphql_concurrency: int = 8
    graphql_queue_s: float = 5.0
    graphql_introspection: bool = True
    graphql_allowlist: Path | None = None
    # Admission control (api/limits.RequestLimits): requests served at once before new ones get 503 +
    # Retry-After (0: no bound), and the largest request body accepted (413 beyond).
    max_inflight: int = 64
    max_body_bytes: int = 1_048_576
    # gc.freeze() once the app has started and once its search index is built (kg.heap.freeze_heap):
    # full collections no longer walk the long-lived objects. On for a served app (from_env;
    # PASSERELLES_GC_FREEZE=0: off), off by default in code: a process that creates and drops apps
    # (tests) would keep every frozen app's objects.
    gc_freeze: bool = False

    @property
    def id_base(self) -> str:
        return self.base_iri + "id/"

    @property
    def graph_base(self) -> str:
        return self.base_iri + "graph/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``PASSERELLES_*`` variables (defaults elsewhere)."""
        env = os.environ if env is None else env
        default = cls()
        base = env.get("PASSERELLES_BASE_IRI", default.base_iri)
        if not base.endswith("/"):
            base += "/"
        return cls(
            base_iri=base,
            store=Path(env.get("PASSERELLES_STORE", str(default.store))),
            data_dir=Path(env.get("PASSERELLES_DATA", str(default.data_dir))),
            host=env.get("PASSERELLES_HOST", default.host),
            port=int(env.get("PASSERELLES_PORT", str(default.port))),
            query_timeout_s=float(env.get("PASSERELLES_QUERY_TIMEOUT", str(default.query_timeout_s))),
            result_cap=int(env.get("PASSERELLES_RESULT_CAP", str(default.result_cap))),
            query_workers=int(env.get("PASSERELLES_QUERY_WORKERS", str(default.query_workers))),
            query_threads=int(env.get("PASSERELLES_QUERY_THREADS", str(default.query_threads))),
            rate_limit=float(env.get("PASSERELLES_RATE_LIMIT", str(default.rate_limit))),
            rate_burst=int(env.get("PASSERELLES_RATE_BURST", str(default.rate_burst))),
            query_endpoint=env.get("PASSERELLES_QUERY_ENDPOINT", default.query_endpoint),
            store_endpoint=env.get("PASSERELLES_STORE_ENDPOINT", default.store_endpoint),
            store_query_url=env.get("PASSERELLES_STORE_QUERY_URL", default.store_query_url),
            store_update_url=env.get("PASSERELLES_STORE_UPDATE_URL", default.store_update_url),
            store_gsp_url=env.get("PASSERELLES_STORE_GSP_URL", default.store_gsp_url),
            graphql_max_depth=int(env.get("PASSERELLES_GRAPHQL_MAX_DEPTH", str(default.graphql_max_depth))),
            graphql_max_cost=int(env.get("PASSERELLES_GRAPHQL_MAX_COST", str(default.graphql_max_cost))),
            graphql_max_aliases=int(
                env.get("PASSERELLES_GRAPHQL_MAX_ALIASES", str(default.graphql_max_aliases))
            ),
            graphql_timeout_s=float(env.get("PASSERELLES_GRAPHQL_TIMEOUT", str(default.graphql_timeout_s))),
            graphql_concurrency=int(
                env.get("PASSERELLES_GRAPHQL_CONCURRENCY", str(default.graphql_concurrency))
            ),
            graphql_queue_s=float(env.get("PASSERELLES_GRAPHQL_QUEUE", str(default.graphql_queue_s))),
            graphql_introspection=env.get("PASSERELLES_GRAPHQL_INTROSPECTION", "1").lower()
            not in ("0", "false", "no"),
            graphql_allowlist=(
                Path(env["PASSERELLES_GRAPHQL_ALLOWLIST"])
                if env.get("PASSERELLES_GRAPHQL_ALLOWLIST")
                else None
            ),
            max_inflight=int(env.get("PASSERELLES_MAX_INFLIGHT", str(default.max_inflight))),
            max_body_bytes=int(env.get("PASSERELLES_MAX_BODY_BYTES", str(default.max_body_bytes))),
            gc_freeze=env.get("PASSERELLES_GC_FREEZE", "1").lower() not in ("0", "false", "no"),
        )
