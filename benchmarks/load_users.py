"""The simulated clients of ``benchmarks/load.py``: a locustfile, run by ``locust --headless``.

Not run by hand: ``load.py`` writes the plan (the server's codes to ask about, the pacing, where to
write the samples) into ``PASSERELLES_LOAD_PLAN`` and starts ``locust -f`` on this file for each
step. Every client loops over a weighted mix, half SPARQL, half GraphQL:

- SPARQL: typical portal SELECTs (label search, joins, a resource's description) by form POST,
  and the stored queries of ``/queries/{name}`` with a parameter;
- GraphQL: an occupation with its skills and certifications, a label search, filtered lists
  (occupations of a domain; certifications of a ROME code or a European level, with their blocs:
  back in the mix since the list queries page the filtered selection first, see
  docs/guides/graphql-lists.md).

Each answer is recorded as it ends (start time, operation, status, latency, Retry-After present,
body valid): a 200 whose body is not a result (GraphQL ``errors``, a truncated JSON) counts as an
error. The samples go to a JSON file when locust quits; ``load.py`` computes the percentiles.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, events, task

PLAN: dict[str, Any] = json.loads(os.environ.get("PASSERELLES_LOAD_PLAN", "{}"))
SAMPLES: list[tuple[float, str, int, float, bool, bool]] = []
T0 = time.time()
ID = PLAN.get("base", "https://w3id.org/passerelles/") + "id/"

SPARQL = {
    "sparql:label-search": "SELECT ?o ?l WHERE {{ ?o a pas:Occupation ; skos:prefLabel ?l . "
    'FILTER (CONTAINS(LCASE(STR(?l)), "{word}")) }} ORDER BY ?l LIMIT 50',
    "sparql:certifications-of-occupation": 'SELECT ?code ?title WHERE {{ ?o pas:code "{code}" ; '
    "pas:romeV3Parent ?v3 . ?c pas:relatedOccupationV3 ?v3 ; pas:code ?code . "
    "OPTIONAL {{ ?c skos:prefLabel ?title }} }} ORDER BY ?code",
    "sparql:skills-of-occupation": 'SELECT ?s ?l WHERE {{ ?o pas:code "{code}" ; pas:hasSkill ?s . '
    "?s skos:prefLabel ?l }} ORDER BY ?l LIMIT 100",
    "sparql:communes-of-departement": "SELECT ?insee ?name WHERE {{ ?c a pas:Commune ; pas:departement ?d ; "
    'pas:code ?insee ; skos:prefLabel ?name . ?d pas:code "{dep}" }} ORDER BY ?insee',
    "sparql:describe-occupation": "DESCRIBE <{id}rome/{code}>",
}
GRAPHQL = {
    "graphql:occupation": "query($code: String!) { occupation(code: $code) { code label "
    "skills(first: 10) { totalCount edges { core node { code label kind } } } "
    "certifications(first: 5) { totalCount nodes { code label level } } } }",
    "graphql:search": "query($text: String!) { search(text: $text, first: 10) { score type label code } }",
    "graphql:occupations": "query($domain: String) { occupations(first: 20, domain: $domain) "
    "{ totalCount nodes { code label } } }",
    "graphql:certifications": "query($rome: String, $level: Int) { certifications(first: 20, rome: $rome, "
    "level: $level) { totalCount nodes { code label level blocks(first: 10) { nodes { code label } } } } }",
}
WORDS = ["soud", "boulang", "infirm", "comptab", "agent", "conduct", "mainten", "cuisin", "vente", "aide"]
DEPARTEMENTS = ["14", "27", "50", "61", "76"]
_CLIENTS = 0


def _wait() -> Any:
    """Closed loop (no think time) for the steps; a fixed pace per client for the soak."""
    rate = float(PLAN.get("rate_per_user", 0))
    return constant_throughput(rate) if rate > 0 else constant(0)


class Client(FastHttpUser):
    """One client of the portal: SPARQL and GraphQL, half and half."""

    wait_time = _wait()
    network_timeout = 60.0  # a hang shows as a failed sample, never as a stuck step
    connection_timeout = 10.0

    def _record(self, name: str, started: float, status: int, retry_after: bool, valid: bool) -> None:
        SAMPLES.append((started - T0, name, status, time.time() - started, retry_after, valid))

    def _call(self, name: str, method: str, path: str, check: str, **kwargs: Any) -> None:
        started = time.time()
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            status = int(response.status_code or 0)
            valid = False
            if status == 200:
                try:
                    body = json.loads(response.content or b"") if check != "rdf" else None
                except ValueError:
                    body = None
                if check == "rdf":
                    valid = bool(response.content)
                elif check == "sparql":
                    valid = isinstance(body, dict) and ("results" in body or "boolean" in body)
                else:
                    valid = isinstance(body, dict) and "data" in body and not body.get("errors")
            retry_after = bool(response.headers and response.headers.get("retry-after"))
            self._record(name, started, status, retry_after, valid)
            response.success()  # outcomes are judged by load.py from the samples

    def _code(self) -> str:
        return str(random.choice(PLAN.get("codes") or ["I1321"]))

    @task(4)
    def sparql_select(self) -> None:
        name = random.choice([n for n in SPARQL if n != "sparql:describe-occupation"])
        code = self._code()
        query = SPARQL[name].format(code=code, word=random.choice(WORDS), dep=random.choice(DEPARTEMENTS))
        self._call(
            name,
            "POST",
            "/sparql",
            "sparql",
            data={"query": query},
            headers={"Accept": "application/sparql-results+json", **self._identity()},
        )

    @task(1)
    def sparql_describe(self) -> None:
        query = SPARQL["sparql:describe-occupation"].format(id=ID, code=self._code())
        self._call(
            "sparql:describe-occupation",
            "POST",
            "/sparql",
            "rdf",
            data={"query": query},
            headers={"Accept": "text/turtle", **self._identity()},
        )

    @task(3)
    def stored_query(self) -> None:
        code = self._code()
        name, params = random.choice(
            [
                ("skills-of-occupation", {"code": code}),
                ("occupations-of-trade", {"domain": code[:3]}),
                ("path-skills", {"occupation": f"{ID}rome/{code}"}),
            ]
        )
        self._call(
            f"stored:{name}",
            "GET",
            f"/queries/{name}",
            "sparql",
            params=params,
            headers={"Accept": "application/sparql-results+json", **self._identity()},
        )

    @task(8)
    def graphql(self) -> None:
        name = random.choice(list(GRAPHQL))
        code = self._code()
        variables = {
            "graphql:occupation": {"code": code},
            "graphql:search": {"text": random.choice(["soudeur", "boulangere", "infirmier", "comptable"])},
            "graphql:occupations": {"domain": code[:3]},
            "graphql:certifications": random.choice([{"rome": code}, {"level": random.randint(3, 7)}]),
        }[name]
        self._call(
            name,
            "POST",
            "/graphql",
            "graphql",
            json={"query": GRAPHQL[name], "variables": variables},
            headers={"Accept": "application/json", **self._identity()},
        )

    def _identity(self) -> dict[str, str]:
        """With ``per_client_identity``, each simulated client sends its own address as a reverse
        proxy would (X-Forwarded-For, trusted from loopback): the rate limit then counts per client."""
        if not PLAN.get("per_client_identity"):
            return {}
        if not hasattr(self, "_address"):
            global _CLIENTS
            _CLIENTS += 1  # documentation addresses (RFC 5737): a header value only, never a peer
            self._address = f"198.51.100.{1 + _CLIENTS % 254}"
        return {"X-Forwarded-For": self._address}


@events.quitting.add_listener
def _write_samples(environment: Any, **_: Any) -> None:
    out = PLAN.get("samples")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"t0": T0, "samples": SAMPLES}, handle)
