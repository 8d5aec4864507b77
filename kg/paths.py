"""Guidance paths: from a target occupation to the skills, blocs, certifications and training
sessions near a person — with disability support and the VAE alternative.

Every step comes from a stored query of ``queries/reports/path-*.rq`` (published by the portal),
so the CLI, the API and the portal walk the same graph:

1. ``path-target-occupations`` — the fiches of the requested code (v4, v3 or appellation);
2. ``path-skills`` — the fiche's skills (core ones when the fiche flags any), minus those the
   person has (their current fiche's skills, or skill codes they give): the *missing* skills;
3. ``path-covering-blocs`` — the blocs covering missing skills, with their certification;
4. ``path-sessions-near`` — sessions of courses preparing those certifications or blocs, in a
   latitude/longitude box around the person's commune (the store has no spatial index), kept
   within the great-circle radius;
5. ``path-vae`` and ``path-mobility`` — certifications open to VAE, relay points in the
   person's département, and whether their current fiche neighbours the target.

Paths are ranked by missing skills covered, then bloc-level training before whole
certifications (a partial certification covers just what is missing), distance, start date and
duration, and each is explained in French and English.

>>> round(great_circle_km(49.4431, 1.0993, 49.1829, -0.3707), 1)  # Rouen – Caen
110.4
>>> box(49.44, 1.10, 10)[0] < 49.44 < box(49.44, 1.10, 10)[1]
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

import pyoxigraph as ox

from kg.queries import named_query

EARTH_RADIUS_KM = 6371.0088
DEFAULT_RADIUS_KM = 50.0
DEFAULT_THRESHOLD = 0.5
_CODE = re.compile(r"^([A-N]\d{4}|\d{1,7})$")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

Row = dict[str, ox.NamedNode | ox.Literal | ox.BlankNode]


class GuidanceError(ValueError):
    """A request the graph cannot answer as asked (unknown code, commune without coordinates…)."""


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(south, north, west, east): a box that contains every point within ``radius_km``."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    dlon = math.degrees(radius_km / (EARTH_RADIUS_KM * max(math.cos(math.radians(lat)), 1e-6)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass
class Skill:
    iri: str
    code: str
    label: str
    core: bool = False


@dataclass
class BlocStep:
    iri: str
    code: str
    label: str
    covers: list[str]  # codes of the missing skills it covers


@dataclass
class PathResult:
    """One way to the target: a session of a course preparing a certification or some of its blocs."""

    rank: int
    certification: str
    certification_code: str
    certification_label: str
    level: str | None
    partial: bool  # the course prepares blocs, not the whole certification
    blocs: list[BlocStep]
    covered: list[str]  # codes of the missing skills the path covers
    missing: int
    course: str
    course_label: str
    hours: float | None
    session: str
    start: str
    end: str | None
    place: str
    commune: str | None
    commune_label: str | None
    distance_km: float | None
    body: str | None
    body_label: str | None
    referent: dict[str, str] | None  # the body's disability referent: role and public contacts
    explanation_fr: str = ""
    explanation_en: str = ""


@dataclass
class VaeOption:
    certifications: list[dict[str, str]]
    relays: list[dict[str, str]]
    eligible: bool  # the person's experience is in the target or a neighbouring fiche
    reason: str


@dataclass
class Guidance:
    """The answer to one guidance request."""

    to: str
    targets: list[dict[str, str]]
    near: str | None
    radius_km: float
    starts_after: str
    owned: list[Skill]
    needed: list[Skill]
    missing: list[Skill]
    paths: list[PathResult]
    vae: VaeOption | None = None
    mobility: bool = False  # ROME names a career move from the current fiche to the target
    same_v3: bool = False  # the current fiche and the target share a ROME v3 parent
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _v(row: Row, key: str) -> str | None:
    term = row.get(key)
    return term.value if term is not None else None


def _num(row: Row, key: str) -> float | None:
    text = _v(row, key)
    try:
        return float(Decimal(text)) if text is not None else None
    except ArithmeticError:
        return None


def _rows(name: str, store: ox.Store, params: Mapping[str, object], base: str) -> list[Row]:
    return list(named_query(f"reports/{name}").run(store, params, base))


def _code_of(iri: str) -> str:
    return iri.rsplit("/", 1)[1]


def resolve_commune(store: ox.Store, commune: str, base: str) -> tuple[str, float, float, str | None]:
    """(IRI, latitude, longitude, département IRI) of a commune given by INSEE code or IRI."""
    iri = commune if commune.startswith(base) else f"{base}id/commune/{commune}"
    if not re.fullmatch(r"\d[\dAB]\d{3}", _code_of(iri)):
        raise GuidanceError(f"near {commune!r}: expected an INSEE commune code like 76351")
    solutions = store.query(
        "PREFIX pas: <https://w3id.org/passerelles/ontology#> PREFIX schema: <https://schema.org/>"
        " SELECT ?c ?lat ?lon ?dep WHERE { ?c schema:latitude ?lat ; schema:longitude ?lon ."
        " OPTIONAL { ?c pas:departement ?dep } }",
        substitutions={ox.Variable("c"): ox.NamedNode(iri)},
    )
    assert isinstance(solutions, ox.QuerySolutions)
    rows = [(r["lat"], r["lon"], r["dep"]) for r in solutions]
    # pyoxigraph results must be dropped on the thread that made them: not kept alive by the
    # traceback of the error below when the API raises it into its event loop.
    del solutions
    for lat, lon, dep in rows:
        assert lat is not None and lon is not None
        return iri, float(lat.value), float(lon.value), dep.value if dep is not None else None
    raise GuidanceError(f"near {commune!r}: no commune with coordinates in the graph")


def _fiches(store: ox.Store, code: str, base: str) -> list[Row]:
    """The v4 fiches a (validated) ROME v4/v3 or appellation code stands for."""
    params = {
        "fiche": f"{base}id/rome/{code}",
        "v3": f"{base}id/rome-v3/{code}",
        "appellation": f"{base}id/appellation/{code}",
    }
    rows = _rows("path-target-occupations", store, params, base)
    # Most ROME v3 codes are also ROME 4.0 fiches (I1304 is both): a code that names a fiche means
    # that fiche, not every fiche under the v3 code too (a person "from I1304" does not have the
    # skills of I1321, whose v3 parent is I1304).
    itself = [r for r in rows if _v(r, "occupation") == params["fiche"]]
    return itself or rows


def _skills(store: ox.Store, occupation: str, base: str) -> list[Skill]:
    rows = _rows("path-skills", store, {"occupation": occupation}, base)
    skills = [
        Skill(_v(r, "skill") or "", _v(r, "code") or "", _v(r, "label") or "", _v(r, "core") == "true")
        for r in rows
    ]
    return skills


def _date_fr(day: str) -> str:
    d = date.fromisoformat(day[:10])
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _date_en(day: str) -> str:
    return date.fromisoformat(day[:10]).strftime("%-d %B %Y")


def explain(path: PathResult) -> tuple[str, str]:
    """Plain-language explanation of a path, in French and English.

    >>> p = PathResult(1, "c", "RNCP1", "Titre", None, True, [], ["1", "2"], 3, "k", "Cours", 400.0,
    ...                "s", "2026-03-03", None, "p", None, "Caen", 12.4, "b", "Org", {"role": "Référent"})
    >>> explain(p)[1].split("; ")
    ['covers 2 of 3 missing skills (blocs )', '12 km (Caen)', 'starts 3 March 2026', '400 h', \
'body has a disability referent']
    """
    blocs = ", ".join(b.code for b in path.blocs)
    what_fr = f"blocs {blocs}" if path.partial else f"certification complète {path.certification_code}"
    what_en = f"blocs {blocs}" if path.partial else f"whole certification {path.certification_code}"
    fr = [f"couvre {len(path.covered)} des {path.missing} compétences manquantes ({what_fr})"]
    en = [f"covers {len(path.covered)} of {path.missing} missing skills ({what_en})"]
    if path.distance_km is not None:
        where = f" ({path.commune_label})" if path.commune_label else ""
        fr.append(f"{path.distance_km:.0f} km{where}")
        en.append(f"{path.distance_km:.0f} km{where}")
    fr.append(f"débute le {_date_fr(path.start)}")
    en.append(f"starts {_date_en(path.start)}")
    if path.hours:
        fr.append(f"{path.hours:.0f} h")
        en.append(f"{path.hours:.0f} h")
    if path.referent:
        fr.append("l'organisme a un référent handicap")
        en.append("body has a disability referent")
    return "; ".join(fr), "; ".join(en)


def guidance(
    store: ox.Store,
    base: str,
    to: str,
    near: str | None = None,
    radius_km: float = DEFAULT_RADIUS_KM,
    from_: str | None = None,
    skills: Iterable[str] = (),
    starts_after: date | None = None,
    accessibility: bool = False,
    vae: bool = False,
    first: int = 10,
    threshold: float = DEFAULT_THRESHOLD,
) -> Guidance:
    """Ranked paths to ``to`` (a ROME v4/v3 code or an appellation code) near commune ``near``."""
    if not _CODE.match(to):
        raise GuidanceError(f"to {to!r}: expected a ROME code (I1321) or an appellation code (509441)")
    if from_ is not None and not _CODE.match(from_):
        raise GuidanceError(f"from {from_!r}: expected a ROME code (I1309) or an appellation code")
    if radius_km <= 0 or radius_km > 1000:
        raise GuidanceError(f"radius {radius_km}: expected a distance in km between 0 and 1000")
    if not 1 <= first <= 100:
        raise GuidanceError(f"first {first}: expected 1 to 100 paths")
    skill_codes = list(skills)
    for code in skill_codes:
        if not re.fullmatch(r"\d{1,7}", code):
            raise GuidanceError(f"skill {code!r}: expected a ROME skill code (OGR digits)")
    day = starts_after or date.today()
    targets = _fiches(store, to, base)
    if not targets:
        raise GuidanceError(
            f"to {to!r}: no ROME 4.0 fiche, v3 code or appellation of the graph has this code"
        )
    target_iris = list(dict.fromkeys(_v(r, "occupation") or "" for r in targets))
    origin: list[str] = []
    if from_ is not None:
        origin = [_v(r, "occupation") or "" for r in _fiches(store, from_, base)]
        if not origin:
            raise GuidanceError(f"from {from_!r}: no fiche of the graph has this code")
    owned: dict[str, Skill] = {}
    for occupation in origin:
        for s in _skills(store, occupation, base):
            owned.setdefault(s.iri, s)
    for code in skill_codes:
        iri = f"{base}id/competence/{code}"
        owned.setdefault(iri, Skill(iri, code, ""))
    needed: dict[str, Skill] = {}
    for occupation in target_iris:
        all_skills = _skills(store, occupation, base)
        core = [s for s in all_skills if s.core]
        for s in core or all_skills:
            needed.setdefault(s.iri, s)
    missing = [s for s in needed.values() if s.iri not in owned]
    missing_codes = {s.iri: s.code for s in missing}
    result = Guidance(
        to=to,
        targets=[
            {
                "occupation": _v(r, "occupation") or "",
                "code": _v(r, "occupationCode") or "",
                "label": _v(r, "label") or "",
            }
            for r in targets
        ],
        near=None,
        radius_km=radius_km,
        starts_after=day.isoformat(),
        owned=list(owned.values()),
        needed=list(needed.values()),
        missing=missing,
        paths=[],
    )
    where: tuple[str, float, float, str | None] | None = None
    if near is not None:
        where = resolve_commune(store, near, base)
        result.near = where[0]
    if origin:
        for occupation in origin:
            for target in target_iris:
                row = _rows("path-mobility", store, {"occupation": occupation, "target": target}, base)
                result.mobility = result.mobility or any(_v(r, "mobility") == "true" for r in row)
                result.same_v3 = result.same_v3 or any(_v(r, "sameV3") == "true" for r in row)
    if not missing:
        result.notes.append("no missing skill: the person's skills already cover the target fiche")
    # Blocs covering missing skills, per certification.
    bloc_covers: dict[str, set[str]] = {}
    bloc_info: dict[str, tuple[str, str, str]] = {}
    cert_info: dict[str, tuple[str, str, str | None]] = {}
    for occupation in target_iris:
        for r in _rows(
            "path-covering-blocs", store, {"occupation": occupation, "threshold": threshold}, base
        ):
            skill = _v(r, "skill") or ""
            if skill not in missing_codes:
                continue
            block, cert = _v(r, "bloc") or "", _v(r, "certification") or ""
            bloc_covers.setdefault(block, set()).add(skill)
            bloc_info[block] = (cert, _v(r, "blocCode") or _code_of(block), _v(r, "blocLabel") or "")
            cert_info[cert] = (_v(r, "certCode") or _code_of(cert), _v(r, "certLabel") or "", _v(r, "level"))
    cert_blocs: dict[str, list[str]] = {}
    for block, (cert, _, _) in bloc_info.items():
        cert_blocs.setdefault(cert, []).append(block)
    # Sessions near the person.
    if where is not None:
        south, north, west, east = box(where[1], where[2], radius_km)
    else:
        south, north, west, east = -90.0, 90.0, -180.0, 180.0
    # One candidate per session and certification: the blocs its course prepares (none: the whole
    # certification).
    grouped: dict[tuple[str, str], tuple[Row, set[str], bool]] = {}
    for occupation in target_iris:
        rows = _rows(
            "path-sessions-near",
            store,
            {
                "occupation": occupation,
                "threshold": threshold,
                "startsAfter": day.isoformat(),
                "south": south,
                "north": north,
                "west": west,
                "east": east,
            },
            base,
        )
        for r in rows:
            key = (_v(r, "session") or "", _v(r, "certification") or "")
            kept, blocks, whole = grouped.get(key, (r, set(), False))
            bloc = _v(r, "bloc")
            grouped[key] = (kept, blocks | ({bloc} if bloc else set()), whole or bloc is None)
    candidates: list[PathResult] = []
    for (session, cert), (r, blocks, whole) in grouped.items():
        if cert not in cert_info:
            continue
        lat, lon = _num(r, "lat"), _num(r, "lon")
        distance = None
        if where is not None and lat is not None and lon is not None:
            distance = round(great_circle_km(where[1], where[2], lat, lon), 1)
            if distance > radius_km:
                continue
        referent = None
        if _v(r, "referent"):
            contacts = (
                ("iri", "referent"),
                ("role", "referentRole"),
                ("email", "referentEmail"),
                ("telephone", "referentPhone"),
                ("web", "referentWeb"),
            )
            referent = {k: v for k, var in contacts if (v := _v(r, var))}
        if accessibility and referent is None:
            continue
        chosen = cert_blocs.get(cert, []) if whole else sorted(blocks)
        covered = sorted({missing_codes[s] for b in chosen for s in bloc_covers.get(b, set())})
        if not covered:
            continue
        code, label, level = cert_info[cert]
        candidates.append(
            PathResult(
                rank=0,
                certification=cert,
                certification_code=code,
                certification_label=label,
                level=level,
                partial=not whole,
                blocs=[
                    BlocStep(
                        b,
                        bloc_info[b][1],
                        bloc_info[b][2],
                        sorted(missing_codes[s] for s in bloc_covers.get(b, set())),
                    )
                    for b in chosen
                    if b in bloc_info
                ],
                covered=covered,
                missing=len(missing),
                course=_v(r, "course") or "",
                course_label=_v(r, "courseLabel") or "",
                hours=_num(r, "hours"),
                session=session,
                start=(_v(r, "start") or "")[:10],
                end=_v(r, "end"),
                place=_v(r, "place") or "",
                commune=_v(r, "commune"),
                commune_label=_v(r, "communeLabel"),
                distance_km=distance,
                body=_v(r, "body"),
                body_label=_v(r, "bodyLabel"),
                referent=referent,
            )
        )
    candidates.sort(
        key=lambda p: (
            -len(p.covered),
            not p.partial,
            p.distance_km or 0.0,
            p.start,
            p.hours or 0.0,
            p.session,
        )
    )
    for rank, path in enumerate(candidates[:first], 1):
        path.rank = rank
        path.explanation_fr, path.explanation_en = explain(path)
    result.paths = candidates[:first]
    if vae:
        result.vae = _vae(store, base, target_iris, where[3] if where else None, origin, result)
    return result


def _vae(
    store: ox.Store,
    base: str,
    targets: list[str],
    departement: str | None,
    origin: list[str],
    result: Guidance,
) -> VaeOption:
    certs: dict[str, dict[str, str]] = {}
    relays: dict[str, dict[str, str]] = {}
    dep = departement or f"{base}id/departement/none"
    for occupation in targets:
        for r in _rows("path-vae", store, {"occupation": occupation, "departement": dep}, base):
            item = {
                k: v
                for k in ("item", "code", "label", "level", "network", "address", "commune", "email", "phone")
                if (v := _v(r, k))
            }
            (certs if _v(r, "kind") == "certification" else relays).setdefault(item["item"], item)
    if not origin:
        eligible, reason = True, "experience declared in the target occupation"
    elif set(origin) & set(targets):
        eligible, reason = True, "current occupation is the target"
    elif result.mobility or result.same_v3:
        eligible, reason = True, "current occupation neighbours the target (ROME mobility or same v3 fiche)"
    else:
        eligible, reason = False, "current occupation is neither the target nor a neighbour in ROME"
    return VaeOption(list(certs.values()), list(relays.values()), eligible, reason)
