"""The spaCy pipeline of the extraction, and the per-offer result.

``fr_core_news_sm`` is loaded with its statistical components excluded and its tokenizer replaced by
the registered ``pas_offer_tokenizer`` (:mod:`kg.nlp.offer_tokenizer`: one regular expression for
French elisions, hyphens and punctuation, exact offsets, ~6× faster on unseen text), then two
components registered here:

- ``pas_offer_segmenter`` sets sentence starts from the offer layout (:mod:`kg.nlp.segment`)
  and stores the segments in ``doc._.segments``;
- ``pas_skill_linker`` links the requirement-side clauses to ROME items (:mod:`kg.nlp.linker`)
  into ``doc._.skills``, and keeps the clauses that match nothing in ``doc._.emerging``.

The tagger, parser, NER and statistical lemmatizer are left out: they cost ~15× the time
(measured in ``docs/guides/extraction.md``) and the matching works on Snowball lemma keys.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy
import spacy
from spacy.attrs import IDX, LENGTH, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.linker import Linker, Mention, Token, declared_first, prior_fiches, same_places
from kg.nlp.offer_tokenizer import OfferTokenizer
from kg.nlp.offers import Offer, RecordError, prepare
from kg.nlp.rerank import Reranker, wanted
from kg.nlp.segment import Segment, segment
from kg.nlp.text import form_key, normalise_phrase, phrase_keys, unglue

MODEL = "fr_core_news_sm"
EXCLUDED = ["tok2vec", "morphologizer", "parser", "attribute_ruler", "lemmatizer", "ner", "senter"]

# "occupations": the predicted (fiche, score) candidates, read by the learned second stage (kg.nlp.rerank)
for _name, _default in (("segments", None), ("skills", None), ("emerging", None), ("prior", None),
                        ("occupations", None)):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=_default)

_TEXT = "pas_text"
_Result = tuple[list[Mention], list[dict[str, object]]]  # a clause's mentions and emerging phrases
# an offer's occupation candidates, skills and emerging phrases
_Extracted = tuple[list[tuple[str, float]], list[Mention], list[dict[str, object]]]
_Key = tuple[str, int, str | None]  # an offer's text, its title's length and its declared code


def doc_text(doc: Doc) -> str:
    """The text of ``doc``, kept in ``doc.user_data``: ``Doc.text`` rebuilds it from a Token object
    per word at each access, which cost more than the tokenizer when both components asked for it.

    >>> doc = spacy.blank("fr")("Cariste H/F")
    >>> doc_text(doc), doc.user_data[_TEXT]
    ('Cariste H/F', 'Cariste H/F')
    """
    text = doc.user_data.get(_TEXT)
    if not isinstance(text, str):
        text = doc.text
        doc.user_data[_TEXT] = text
    return text

# Clause boundaries inside a segment: a label and its value, parentheses, list separators
# other than the comma (ROME labels have commas: "Réparer un équipement, une machine").
_CLAUSE = re.compile(r"\s*(?:[;:()\[\]|+•]|\s-\s|\bet/ou\b)\s*")
# Emerging phrases are cut at commas and "et" too: one item of a list each.
_ITEM = re.compile(r"\s*(?:,|\bet\b|\bou\b|/)\s*")
PRIOR_FICHES = 1  # predicted fiches whose items are the linker's prior (benchmarks/tune_linker.py)
# the next fiches (up to 3) also give the prior when their score is at least this share of the top one
# (None: off; kg.nlp.linker.prior_fiches, chosen by CV in benchmarks/tune_linker.py)
PRIOR_MARGIN: float | None = None
# The learned second stage (kg.nlp.rerank) decides the links unless PASSERELLES_NLP_RERANK=0, when the doc has
# its occupation candidates (the extraction; tune_linker.py and the bloc linking use the first stage alone).
# On by default since session 10: refitted without the features that read every candidate's score, it leaves
# out most candidates before scoring them, and the cold extraction stays above 100 offers per CPU-second
# (docs/guides/skill-second-stage-default.md; docs/guides/skill-linking-second-stage.md). On without the
# model file: FileNotFoundError
RERANK = wanted()
# The skills of an offer are linked under its declared ROME code first, then its predicted fiches
# (kg.nlp.linker.declared_first; grouped CV in docs/guides/skill-declared-prior.md); the occupation output
# stays the prediction from the text alone.
DECLARED_PRIOR = True
EMERGING_SECTIONS = frozenset({"missions", "profile", "qualities"})
MEMO_SIZE = 100_000  # clauses whose results the linker component keeps (then it starts afresh)
REPOSTS = 20_000  # offers whose results Extractor.extract keeps for their reposts (then it starts afresh)
# The Linker fields a clause's mentions depend on (all but the gazetteer and the synonym and association
# tables, which a new Linker brings).
_SETTINGS = tuple(f.name for f in fields(Linker) if f.name not in {"gazetteer", "synonyms", "associations"})
# Phrases that state no skill: experience, schedule, contract, place, pay, diplomas by level.
_NOT_SKILL = re.compile(
    r"\b(experience|ans?|annees?|mois|debutant|horaires?|heures?|semaine|week|cdi|cdd|interim|contrat|salaire"
    r"|h/f|poste|mission|entreprise|societe|client|equipe|nous|vous|votre|vos|notre|nos|recherchons"
    r"|rejoindre|bac|niveau|diplome|cap|bts|dut|licence|master|idealement|souhaite|souhaitee|apprecie|appreciee"
    r"|exige|exigee|requis|indispensable|obligatoire|imperatif|bienvenue?|candidat|profil|etes|reconnue?"
    # pay, benefits, career, company and diversity boilerplate (the noisy emerging phrases of the real offers)
    r"|temps (?:plein|partiel)|titulaire|handicap|possibilite|evolution|carriere|commissions?"
    r"|commissionnement|avantage(?:ux|s)?|prime|remuneration|formation complete|accompagnement personnalise"
    r"|visibilite|leads?|epanouir|rejoignez|engage)\b"
)


@Language.factory("pas_offer_segmenter", default_config={})
def make_segmenter(nlp: Language, name: str) -> OfferSegmenter:
    """The layout-aware segmenter (see :mod:`kg.nlp.segment`)."""
    return OfferSegmenter()


@Language.factory("pas_skill_linker", default_config={"emerging_min_words": 2, "emerging_max_words": 6})
def make_linker(nlp: Language, name: str, emerging_min_words: int, emerging_max_words: int) -> SkillLinker:
    """The gazetteer linker; call ``.use(gazetteer)`` before processing texts."""
    return SkillLinker(emerging_min_words, emerging_max_words)


class OfferSegmenter:
    """Sentence starts at segment starts; ``doc._.segments`` = the segments."""

    def __call__(self, doc: Doc) -> Doc:
        segments = segment(doc_text(doc))
        doc._.segments = segments
        starts = numpy.fromiter((s.start for s in segments), dtype="int64", count=len(segments))
        # Written as one array: the per-token setter re-checks the whole doc each time, and a
        # Token object per word costs more than the linking. 1 = start, 0 = not decided.
        offsets = doc.to_array([IDX]).astype("int64")
        flags = numpy.isin(offsets, starts).astype("uint64")
        if len(flags):
            flags[0] = 1
        doc.from_array([SENT_START], flags.reshape(-1, 1))  # type: ignore[arg-type]
        return doc


class SkillLinker:
    """Links each requirement clause; unmatched clauses become emerging-skill candidates."""

    def __init__(self, emerging_min_words: int, emerging_max_words: int) -> None:
        self.linker: Linker | None = None
        self.min_words = emerging_min_words
        self.max_words = emerging_max_words
        self._titles: frozenset[str] = frozenset()
        self._title_keys: frozenset[frozenset[str]] = frozenset()
        self.prior_fiches = PRIOR_FICHES
        self.prior_margin = PRIOR_MARGIN
        self.reranker: Reranker | None = None
        # A clause's text, prior, section and settings → the tokens it had, where it started, and its
        # mentions and emerging phrases (offsets relative to that start).
        self._memo: dict[tuple[object, ...], tuple[list[Token], int, _Result]] = {}
        self._setting_ids: dict[tuple[object, ...], int] = {}

    def forget(self) -> None:
        """Drop the results kept per clause (benchmarks: a second pass over the same offers would
        otherwise replay them all)."""
        self._memo.clear()
        self._setting_ids.clear()
        if self.reranker is not None:
            self.reranker.generator.forget()

    def _settings(self) -> int:
        """What a clause's result depends on besides its text and prior (settings change in tuning), as a
        small number: the memo keys hash it for every clause, and a tuple's hash is not kept."""
        linker = self.linker
        settings = (id(linker), self.min_words, self.max_words, *(getattr(linker, n) for n in _SETTINGS))
        return self._setting_ids.setdefault(settings, len(self._setting_ids))

    def prior(self, predicted: list[tuple[str, float]]) -> frozenset[str] | None:
        """The items of the predicted fiches the linker favours (see :class:`kg.nlp.linker.Linker`)."""
        if self.linker is None or not self.prior_fiches:
            return None
        return self.linker.gazetteer.prior(prior_fiches(predicted, self.prior_fiches, self.prior_margin))

    def fiches(self, predicted: list[tuple[str, float]], declared: str | None) -> list[tuple[str, float]]:
        """The fiches an offer's skills are linked under (its prior and the second stage's occupations): the
        declared one first when ``DECLARED_PRIOR`` and the gazetteer knows it (a code of no fiche, such as a
        ROME v3 code v4 dropped, would leave the prior empty), then the predicted ones
        (:func:`kg.nlp.linker.declared_first`).

        >>> component = SkillLinker(2, 6).use(Gazetteer.from_rows([("1", "Lire un plan", "savoir-faire")], (),
        ...                                                      [("F1703", "1")]))
        >>> component.fiches([("F1704", 0.8)], "F1703"), component.fiches([("F1704", 0.8)], "Z9999")
        ([('F1703', 0.8), ('F1704', 0.8)], [('F1704', 0.8)])
        """
        known = self.linker is not None and declared in self.linker.gazetteer.fiche_items
        return declared_first(predicted, declared if DECLARED_PRIOR and known else None)

    def use(self, gazetteer: Gazetteer) -> SkillLinker:
        self.linker = Linker(gazetteer)
        self.forget()
        self._titles = frozenset(normalise_phrase(a.label) for a in gazetteer.appellations)
        self.reranker = Reranker.shipped(gazetteer, self._titles) if RERANK else None
        if self.reranker is not None:  # perf only: the liberal linker keys the same words
            self.reranker.generator.linker.share_words(self.linker)
        # a job title in another spelling ("Auxiliaire de Vie Social"): the same lemma keys as
        # one gendered form of an appellation
        self._title_keys = frozenset(
            frozenset(phrase_keys(form))
            for a in gazetteer.appellations
            for form in (a.label, *a.label.split(" / "))
        )
        return self

    def __call__(self, doc: Doc) -> Doc:
        if self.linker is None:
            raise RuntimeError("pas_skill_linker has no gazetteer: call .use(gazetteer) first")
        text = doc_text(doc)
        # The clauses of the requirement segments: (start, end, its tokens, section, memo key)
        found_clauses: list[tuple[int, int, list[Token], str, tuple[object, ...]]] = []
        settings = self._settings()  # the same for every clause of the offer
        prior = doc._.prior
        for start, end, clause_tokens, section in self.clauses_of(doc):
            # Perf only: a clause met before (reposts, an employer's boilerplate: 18% of the clauses
            # of the 610 real offers) with the same words at the same places (checked on a hit, see
            # same_places), prior and settings has the same mentions and emerging phrases, at other
            # offsets.
            stop = max(end, clause_tokens[-1][1]) if clause_tokens else end
            key: tuple[object, ...] = (text[start:stop], prior, section, settings)
            found_clauses.append((start, end, clause_tokens, section, key))
        # Each clause's mentions and emerging phrases, offsets relative to its start. Perf only: the
        # clauses not met before are linked together (one numpy pass for the offer).
        results: dict[int, _Result] = {}  # clause number → its result
        new: list[int] = []  # the clauses to link
        seen: dict[tuple[object, ...], int] = {}  # the first clause of the offer with a key
        for number, (start, _, clause_tokens, _, key) in enumerate(found_clauses):
            twin = seen.setdefault(key, number)
            twin_start, _, twin_tokens, _, _ = found_clauses[twin]
            if twin != number and same_places(twin_tokens, twin_start, clause_tokens, start):
                continue  # the result of its twin, read below
            known = self._memo.get(key)
            if known is not None and same_places(known[0], known[1], clause_tokens, start):
                results[number] = known[2]
            else:
                new.append(number)
        linked = (
            self.linker.link_many(
                [found_clauses[n][2] for n in new], text, prior, [found_clauses[n][3] for n in new]
            )
            if new
            else []
        )
        for number, mentions in zip(new, linked, strict=True):
            start, end, clause_tokens, section, key = found_clauses[number]
            found = [m for m in mentions if normalise_phrase(m.text) not in self._titles]
            items = self._emerging_items(text, start, end, found) if section in EMERGING_SECTIONS else []
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            result = results[number] = (_moved(found, -start), _moved_items(items, -start))
            self._memo[key] = (clause_tokens, start, result)
        skills: list[Mention] = []
        per_clause: list[tuple[list[Mention], list[dict[str, object]]]] = []
        for number, (start, _, _, _, key) in enumerate(found_clauses):
            mentions, items = results[number] if number in results else results[seen[key]]
            moved = _moved(mentions, start)
            skills += moved
            per_clause.append((moved, _moved_items(items, start)))
        occupations = doc._.occupations
        if self.reranker is not None and occupations is not None:
            skills = self.reranker.mentions([c[:4] for c in found_clauses], text, occupations, skills)
            per_clause = self._emerging_again(text, found_clauses, per_clause, skills)
        doc._.skills = skills
        doc._.emerging = [item for _, items in per_clause for item in items]
        return doc

    def _emerging_again(
        self, text: str, found_clauses: Sequence[tuple[int, int, list[Token], str, object]],
        per_clause: list[tuple[list[Mention], list[dict[str, object]]]], skills: Sequence[Mention],
    ) -> list[tuple[list[Mention], list[dict[str, object]]]]:
        """Each clause's mentions and emerging phrases once the second stage has decided the links: a
        phrase it links is no longer emerging, and one the first stage linked but it drops is emerging
        again (as if nothing had linked it). A clause whose mentions cover the same spans keeps its
        phrases (perf only: the same list items are touched)."""
        starts = [c[0] for c in found_clauses]
        kept: list[list[Mention]] = [[] for _ in found_clauses]
        for mention in skills:  # each in the clause it starts in (the clauses do not overlap)
            number = bisect_right(starts, mention.start) - 1
            if number >= 0:
                kept[number].append(mention)
        out = []
        for (start, end, _, section, _), (first, items), mentions in zip(
            found_clauses, per_clause, kept, strict=True
        ):
            if {(m.start, m.end) for m in mentions} != {(m.start, m.end) for m in first}:
                emerging = section in EMERGING_SECTIONS
                items = self._emerging_items(text, start, end, mentions) if emerging else []
            out.append((mentions, items))
        return out

    def clauses_of(self, doc: Doc) -> list[tuple[int, int, list[Token], str]]:
        """The clauses of the requirement segments of a segmented doc, as the linker reads them: their
        offsets, their words and their section."""
        text = doc_text(doc)
        # Offsets from the token arrays: building 1,000 Token objects per offer costs more
        # than the linking.
        array = doc.to_array([IDX, LENGTH]).T
        raw_starts: list[int] = array[0].tolist()
        raw_ends: list[int] = (array[0] + array[1]).tolist()
        out: list[tuple[int, int, list[Token], str]] = []
        for seg in doc._.segments or []:
            if not seg.requirement:
                continue
            # Only the words of requirement segments are read: the doc's tokens that overlap this one
            # (a clause's tokens are those that start in it, so the others cannot be among them).
            first, last = bisect_right(raw_ends, seg.start), bisect_left(raw_starts, seg.end)
            tokens = self._words(text, raw_starts, raw_ends, first, last)
            starts = [t[0] for t in tokens]
            for start, end in clauses(text, seg):
                # a token across the end ("réactif(ve)") is its start's
                clause_tokens = tokens[bisect_left(starts, start) : bisect_left(starts, end)]
                out.append((start, end, clause_tokens, seg.section))
        return out

    @staticmethod
    def _words(text: str, starts: list[int], ends: list[int], first: int, last: int) -> list[Token]:
        """The words of the doc's tokens ``first`` to ``last`` (excluded)."""
        tokens: list[Token] = []
        for a, b in zip(starts[first:last], ends[first:last], strict=True):
            word = text[a:b]
            if word.isalnum() and (word.islower() or word[:1].isupper()):
                tokens.append((a, b, word))
            else:  # "B." → "B", "-travail" → "travail", "efficacitéRigueur" → two words
                tokens += unglue(a, b, word)
        return tokens

    def _emerging_items(
        self, text: str, start: int, end: int, found: list[Mention]
    ) -> list[dict[str, object]]:
        """The list items of a clause that no mention touches, kept as emerging phrases."""
        out = []
        cut = start
        bounds = [(m.start(), m.end()) for m in _ITEM.finditer(text, start, end)] + [(end, end)]
        for a, b in bounds:
            item_start, item_end = cut, a
            cut = b
            while item_end > item_start and text[item_end - 1] in " .!?\t\xa0":
                item_end -= 1
            if item_end <= item_start or any(m.start < item_end and item_start < m.end for m in found):
                continue
            candidate = self._emerging(text, item_start, item_end)
            if candidate is not None:
                out.append(candidate)
        return out

    def _emerging(self, text: str, start: int, end: int) -> dict[str, object] | None:
        phrase = text[start:end]
        keys = phrase_keys(phrase)
        if not (self.min_words <= len(keys) <= self.max_words):
            return None
        normalised = normalise_phrase(phrase)
        if normalised in self._titles or frozenset(keys) in self._title_keys:
            return None
        if _NOT_SKILL.search(form_key(phrase)) or any(c.isdigit() for c in phrase):
            return None
        return {"text": phrase, "normalised": normalised, "start": start, "end": end}




def _moved(mentions: list[Mention], delta: int) -> list[Mention]:
    return [
        Mention(m.code, m.label, m.kind, m.score, m.method, m.start + delta, m.end + delta, m.text)
        for m in mentions
    ]


def _moved_items(items: list[dict[str, object]], delta: int) -> list[dict[str, object]]:
    return [{**item, "start": int(item["start"]) + delta, "end": int(item["end"]) + delta}  # type: ignore[call-overload]
            for item in items]


def clauses(text: str, seg: Segment) -> list[tuple[int, int]]:
    """The clauses of a segment (offsets into ``text``), split at list punctuation.

    >>> t = "Préparer les machines : lecture de plans, réglages (acier, inox)."
    >>> [t[a:b] for a, b in clauses(t, Segment(0, len(t), "missions", True))]
    ['Préparer les machines', 'lecture de plans, réglages', 'acier, inox']
    """
    out = []
    cut = seg.start
    for match in _CLAUSE.finditer(text, seg.start, seg.end):
        out.append((cut, match.start()))
        cut = match.end()
    out.append((cut, seg.end))
    trimmed = []
    for a, b in out:
        while b > a and text[b - 1] in " .!?\t\xa0":
            b -= 1
        while a < b and text[a] in " \t\xa0":
            a += 1
        if b > a:
            trimmed.append((a, b))
    return trimmed


def load_pipeline(gazetteer: Gazetteer, model: str = MODEL) -> Language:
    """The extraction pipeline on ``model`` (its vocabulary), the offer tokenizer, the two components."""
    nlp = spacy.load(model, exclude=EXCLUDED)
    nlp.tokenizer = OfferTokenizer(nlp.vocab)
    nlp.add_pipe("pas_offer_segmenter")
    linker = nlp.add_pipe("pas_skill_linker")
    assert isinstance(linker, SkillLinker)
    linker.use(gazetteer)
    return nlp


class OccupationPredictor(Protocol):
    def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]: ...


@dataclass
class Extractor:
    """Turns offers into the result objects of ``kg extract``."""

    nlp: Language
    occupation: OccupationPredictor
    candidates: int = 5

    def extract(
        self, offers: Iterable[Offer | RecordError], batch_size: int = 32
    ) -> Iterator[dict[str, Any]]:
        """One result (or error object) per offer, in order.

        Perf only: an offer whose text (title and capped description) and declared code were met before
        in the same call — a repost: 41 of the 610 real offers — gets the first one's occupation
        candidates, skills and emerging phrases without being processed again (they depend on nothing
        else; its own id, commune and warnings are its own)."""
        pending: list[tuple[Offer, str, list[str]]] = []
        seen: dict[_Key, _Extracted] = {}
        for item in offers:
            if isinstance(item, RecordError):
                yield from self._flush(pending, seen)
                pending = []
                yield item.to_json()
                continue
            prepared = prepare(item)
            if isinstance(prepared, RecordError):
                yield from self._flush(pending, seen)
                pending = []
                yield prepared.to_json()
                continue
            pending.append((item, prepared.text, prepared.warnings))
            if len(pending) >= batch_size:
                yield from self._flush(pending, seen)
                pending = []
        yield from self._flush(pending, seen)

    def _flush(
        self, pending: list[tuple[Offer, str, list[str]]], seen: dict[_Key, _Extracted]
    ) -> Iterator[dict[str, Any]]:
        # An offer is its text, where its title ends (the occupation reads the two apart) and its declared
        # code (the skills' fiches start with it).
        found: dict[_Key, _Extracted] = {}
        new: dict[_Key, tuple[Offer, str]] = {}
        for offer, text, _ in pending:
            key = (text, len(offer.title), offer.declared)
            if key in seen:
                found[key] = seen[key]
            elif key not in new:
                new[key] = (offer, text)
        # The occupation comes first: the items of its top fiches, after the declared one, are the skill
        # linker's prior. It reads the title and the (capped) description apart, as
        # benchmarks/occupation.py evaluates it, and never the declared code.
        predictions = [
            self.occupation.predict(offer.title, text[len(offer.title) + 1 :], k=self.candidates)
            for offer, text in new.values()
        ]
        made = [self._make_doc(text) for _, text in new.values()]
        linker = self.nlp.get_pipe("pas_skill_linker")
        assert isinstance(linker, SkillLinker)
        for doc, (offer, _), predicted in zip(made, new.values(), predictions, strict=True):
            fiches = linker.fiches(predicted, offer.declared)
            doc._.prior = linker.prior(fiches)
            doc._.occupations = fiches
        docs = self.nlp.pipe(made)
        for key, doc, predicted in zip(new, docs, predictions, strict=True):
            found[key] = (predicted, doc._.skills, doc._.emerging)
        if len(seen) + len(new) > REPOSTS:
            seen.clear()
        seen.update((key, found[key]) for key in new)
        for offer, text, warnings in pending:
            yield self._result(offer, warnings, *found[text, len(offer.title), offer.declared])

    def _make_doc(self, text: str) -> Doc:
        """The tokenised text, which keeps the string it was made from (see :func:`doc_text`)."""
        doc = self.nlp.make_doc(text)
        doc.user_data[_TEXT] = text
        return doc

    def result(
        self, offer: Offer, text: str, doc: Doc, warnings: list[str], predicted: list[tuple[str, float]]
    ) -> dict[str, Any]:
        """The result object of one processed offer (``predicted``: its occupation candidates)."""
        return self._result(offer, warnings, predicted, doc._.skills, doc._.emerging)

    @staticmethod
    def _result(
        offer: Offer, warnings: list[str], predicted: list[tuple[str, float]], skills: list[Mention],
        emerging: list[dict[str, object]],
    ) -> dict[str, Any]:
        top = predicted[0] if predicted else (None, 0.0)
        out: dict[str, Any] = {
            "id": offer.id,
            "occupation": {
                "code": top[0],
                "score": round(top[1], 3),
                "candidates": [{"code": c, "score": round(s, 3)} for c, s in predicted],
                "declared": offer.declared,
            },
            "skills": [m.to_json() for m in skills],
            "emerging": [dict(item) for item in emerging],  # a repost's are its own objects
            "commune": offer.commune,
        }
        if warnings:
            out["warnings"] = warnings
        return out
