"""A memo in front of spaCy's tokenizer: each whitespace-free chunk of text is tokenized once.

spaCy's tokenizer splits a text at whitespace, then splits each chunk by its prefix, suffix, infix
and exception rules. It caches chunks, but not those an exception or an affix rule touched
(elisions, "(H/F)", "d'équipe", trailing commas): in French offers about half of the chunks, so a
warm pass still cost 4.7 ms per offer (measured on the 610 real offers). :class:`MemoTokenizer`
keeps the split of every chunk it saw in a dict and builds the ``Doc`` from the words, which gives
the same tokens and offsets (``tests/test_nlp_tokenizer.py`` compares both on offer-like texts; the
610 real offers gave 0 differences) at a fraction of the cost. Token attributes that exceptions set
(norms) are not carried over: the extraction reads offsets and text only.

>>> import spacy
>>> nlp = spacy.blank("fr")
>>> memo = MemoTokenizer(nlp.tokenizer)
>>> [t.text for t in memo("Chef d'équipe (H/F) :  l'entretien.\\nCACES")]
['Chef', "d'", 'équipe', '(', 'H', '/', 'F', ')', ':', ' ', "l'", 'entretien', '.', '\\n', 'CACES']
>>> memo("Chef d'équipe").text == "Chef d'équipe"
True
"""

from __future__ import annotations

import re
from collections.abc import Callable

from spacy.tokens import Doc
from spacy.vocab import Vocab

_RUNS = re.compile(r"\S+|\s+")  # \s is str.isspace, the test spaCy's tokenizer splits on


class MemoTokenizer:
    """Wraps a spaCy tokenizer (``nlp.tokenizer = MemoTokenizer(nlp.tokenizer)``); ``limit``: the
    number of distinct chunks kept before the memo starts afresh (bounded memory on long runs)."""

    def __init__(self, tokenizer: Callable[[str], Doc], limit: int = 500_000) -> None:
        self.tokenizer = tokenizer
        self.vocab: Vocab = tokenizer.vocab  # type: ignore[attr-defined]
        self.limit = limit
        self._memo: dict[str, tuple[str, ...]] = {}

    def _split(self, chunk: str) -> tuple[str, ...]:
        pieces = self._memo.get(chunk)
        if pieces is None:
            if len(self._memo) >= self.limit:
                self._memo.clear()
            pieces = tuple(t.text for t in self.tokenizer(chunk))
            self._memo[chunk] = pieces
        return pieces

    def __call__(self, text: str) -> Doc:
        if not text or text[0].isspace():
            # spaCy's own handling of leading whitespace, rare in offers: no shortcut
            return self.tokenizer(text)
        words: list[str] = []
        spaces: list[bool] = []
        for match in _RUNS.finditer(text):
            run = match.group()
            if not run[0].isspace():
                pieces = self._split(run)
                words.extend(pieces)
                spaces.extend([False] * len(pieces))
                continue
            # A run of whitespace: a first plain space is the previous token's trailing space,
            # the rest (if any) is a token of its own, as spaCy's tokenizer does.
            if run[0] == " ":
                spaces[-1] = True
                run = run[1:]
            if run:
                pieces = self._split(run)
                words.extend(pieces)
                spaces.extend([False] * len(pieces))
        return Doc(self.vocab, words=words, spaces=spaces)

    def __getattr__(self, name: str) -> object:
        # what else spaCy asks of a tokenizer (to_disk, rules, explain...) is the wrapped one's
        return getattr(self.tokenizer, name)
