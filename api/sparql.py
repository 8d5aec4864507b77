"""``/sparql``: read-only SPARQL queries, SPARQL JSON results, with a timeout and a row cap.

Queries run in a worker thread; SPARQL Update is refused (the public endpoint never writes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import pyoxigraph as ox
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from api.deps import SettingsDep, StoreDep
from kg.namespaces import prefixes_for

router = APIRouter()
JSON_RESULTS = "application/sparql-results+json"


def _term_json(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = term.datatype.value
        return out
    return {"type": "triple", "value": str(term)}


def run_query(
    store: ox.Store, query: str, cap: int, prefixes: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """Execute a read-only query; SELECT/ASK → SPARQL JSON, CONSTRUCT/DESCRIBE → N-Triples.

    The default graph is the store's: the published, deduplicated union of the source graphs
    and the catalogue (quarantine stays in its own named graphs); the project's prefixes
    (``pas:``, ``id:``, ``skos:``...) are predeclared.

    >>> s = ox.Store(); s.add(ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal("x")))
    >>> json.loads(run_query(s, "SELECT ?o WHERE { ?s ?p ?o }", 10)[1])["results"]["bindings"]
    [{'o': {'type': 'literal', 'value': 'x'}}]
    """
    result = store.query(query, prefixes=prefixes)
    # pyoxigraph results must be dropped on the thread that made them: never raise while one
    # is alive (a traceback would carry it to another thread).
    over = False
    if isinstance(result, ox.QueryBoolean):
        answer = JSON_RESULTS, json.dumps({"head": {}, "boolean": bool(result)}).encode()
    elif isinstance(result, ox.QuerySolutions):
        names = [v.value for v in result.variables]
        rows: list[dict[str, dict[str, str]]] = []
        for solution in result:
            if len(rows) >= cap:
                over = True
                break
            rows.append({n: _term_json(solution[n]) for n in names if solution[n] is not None})
        body = {"head": {"vars": names}, "results": {"bindings": rows}}
        answer = JSON_RESULTS, json.dumps(body, ensure_ascii=False).encode()
    else:
        triples: Iterable[ox.Triple] = result
        kept: list[ox.Triple] = []
        for triple in triples:
            if len(kept) >= cap:
                over = True
                break
            kept.append(triple)
        answer = "application/n-triples", ox.serialize(kept, format=ox.RdfFormat.N_TRIPLES) or b""
    del result
    if over:
        raise OverflowError(f"more than {cap} results: add LIMIT or narrow the query")
    return answer


async def _answer(query: str | None, store: ox.Store, settings: SettingsDep) -> Response:
    if not query:
        raise HTTPException(400, "missing 'query' parameter")
    if query.lstrip().upper().startswith(("INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE")):
        raise HTTPException(403, "SPARQL Update is not allowed on the public endpoint")
    try:
        media, body = await asyncio.wait_for(
            asyncio.to_thread(run_query, store, query, settings.result_cap, prefixes_for(settings.base_iri)),
            timeout=settings.query_timeout_s,
        )
    except SyntaxError as exc:
        raise HTTPException(400, f"malformed query: {exc}") from None
    except OverflowError as exc:
        return JSONResponse({"error": "result-cap", "detail": str(exc)}, status_code=413)
    except TimeoutError:
        return JSONResponse(
            {"error": "timeout", "detail": f"query exceeded {settings.query_timeout_s} s"},
            status_code=503,
            headers={"Retry-After": "30"},
        )
    return Response(body, media_type=media)


@router.get("/sparql")
async def sparql_get(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """SPARQL query by GET (``?query=...``)."""
    return await _answer(request.query_params.get("query"), store, settings)


@router.post("/sparql")
async def sparql_post(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """SPARQL query by POST: URL-encoded form or ``application/sparql-query`` body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    query: str | None
    if content_type == "application/sparql-query":
        query = (await request.body()).decode("utf-8")
    elif content_type == "application/x-www-form-urlencoded":
        charset = request.headers.get("content-type", "").partition("charset=")[2].strip() or "utf-8"
        try:
            form = parse_qs((await request.body()).decode(charset), keep_blank_values=True)
        except (LookupError, UnicodeDecodeError) as exc:
            raise HTTPException(400, f"form body not decodable as {charset}: {exc}") from None
        values: list[str] = form.get("query", [])
        if len(values) > 1:
            raise HTTPException(400, "exactly one 'query' parameter is allowed")
        query = values[0] if values else None
    else:
        raise HTTPException(415, f"unsupported media type {content_type!r}")
    return await _answer(query, store, settings)
