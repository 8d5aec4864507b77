"""The extraction's tokenizer: one compiled regular expression for French offer text.

spaCy's French tokenizer runs its prefix, suffix, infix and exception rules chunk by chunk in
Python-visible steps (the memo tokenizer this module replaced also made a ``Doc`` per chunk): on the
first pass over 610 real offers it cost ~4 ms per offer, the largest cold cost of ``kg extract``.
The skill linker reads only the tokens' offsets and text, and reduces each token to a word core
and lemma key (:func:`kg.nlp.text.unglue`, :func:`kg.nlp.text.word_key`) — the gazetteer's labels are
split at every non-word character — so exact spaCy tokens are not needed, only exact offsets.

:class:`OfferTokenizer` matches the whole text with one regular expression and builds the ``Doc``
from the words and their trailing spaces, so ``doc.text`` is the input and every token's offset is
exact. The rules follow spaCy's French ones where the linker can see them:

- elisions split after the apostrophe (``l'``, ``d’``, ``qu'``, ``jusqu'``), ``aujourd'hui`` kept;
- a hyphen before a letter splits (``Aide-soignant``: spaCy splits it too; its list of hyphenated
  exceptions — ``peut-être``, ``Saint-Lô`` — is not kept: the gazetteer splits them);
- a token holds on through ``.`` (``C.A.C.E.S``, ``cat.3``, ``organisé.e``; not ``fin.Début``),
  ``+`` (``Bac+2``), a digit's ``,`` ``-`` ``/`` ``:`` (``10,5``, ``5h-13h/13h-21h``, ``10:30``), the
  ``(`` of an inclusive ending (``soignant(e`` then ``)``, as spaCy);
- URLs and e-mail addresses are one token; other punctuation and symbols (emojis, bullets) are
  tokens of their own, a run of the same mark (``...``, ``***``) one token;
- whitespace: one plain space after a token is its trailing space, any other run is a token.

>>> import spacy
>>> tokenizer = OfferTokenizer(spacy.blank("fr").vocab)
>>> doc = tokenizer("Chef d'équipe (H/F) :  l’entretien, Bac+2.\\nCACES")
>>> [t.text for t in doc]  # doctest: +NORMALIZE_WHITESPACE
['Chef', "d'", 'équipe', '(', 'H', '/', 'F', ')', ':', ' ', 'l’', 'entretien', ',', 'Bac+2', '.',
 '\\n', 'CACES']
>>> doc = tokenizer("Aide-soignant(e) : rh@exemple.fr")
>>> [(t.idx, t.text) for t in doc]
[(0, 'Aide'), (4, '-'), (5, 'soignant(e'), (15, ')'), (17, ':'), (19, 'rh@exemple.fr')]
>>> doc.text
'Aide-soignant(e) : rh@exemple.fr'
"""

from __future__ import annotations

import re

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

_ALNUM = r"[^\W_]"
_LETTER = r"[^\W\d_]"
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
# What keeps a word going: "." before a letter or digit (not a lower-case word's full stop before a
# capital: "fin.Rigueur"), "·" of inclusive spellings, "+" (Bac+2), ",", "-", "/", ":" before a digit
# (10,5; 5h-13h; 13h/21h; 10:30), "(" between letters (soignant(e).
_JOIN = (
    rf"(?:(?<![{_LOWER}])\.(?={_ALNUM})|\.(?![{_UPPER}])(?={_ALNUM})|·(?={_LETTER})|\+(?={_ALNUM})"
    rf"|[,\-/:](?=\d)|(?<={_LETTER})\((?={_LETTER}))"
)
_URL = r"|(?:https?://|www\.)[^\s<>\"«»]*[^\s<>\"«».,;:!?)\]'’]"  # URL without its trailing punctuation
_EMAIL = r"|[\w.+-]++@[\w-]+(?:\.[\w-]+)+"  # e-mail address


def _token_pattern(email: bool) -> re.Pattern[str]:
    """The token pattern, with its e-mail branch or without (a text without "@" has no address: its
    words are then scanned once, not first as the start of an address). An elision (l', d', qu',
    jusqu') is a run of letters and digits that ends with a letter, then the apostrophe, before a
    letter; any other run goes on as a word: both read the run once."""
    return re.compile(
        r"(\s+"
        + _URL
        + (_EMAIL if email else "")
        + r"|(?i:aujourd['’]hui)"
        rf"|{_ALNUM}++(?:(?<={_LETTER})['’](?={_LETTER})|(?:{_JOIN}{_ALNUM}+)*)"
        r"|([^\w\s])\2*"  # a punctuation mark or symbol, or a run of the same one
        r"|_+"
        r")( ?)"
    )


_TOKEN = _token_pattern(email=True)
_TOKEN_NO_EMAIL = _token_pattern(email=False)


class OfferTokenizer:
    """A spaCy tokenizer (``nlp.tokenizer = OfferTokenizer(nlp.vocab)``): words from one regular
    expression, exact offsets (see the module doc)."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        found = (_TOKEN if "@" in text else _TOKEN_NO_EMAIL).findall(text)
        return Doc(self.vocab, words=[f[0] for f in found], spaces=[f[2] == " " for f in found])

    def pipe(self, texts: list[str], batch_size: int = 1000) -> list[Doc]:
        """The docs of ``texts`` (what spaCy asks of a tokenizer for ``nlp.pipe``)."""
        return [self(text) for text in texts]


@spacy.registry.tokenizers("pas_offer_tokenizer")
def create_offer_tokenizer() -> object:
    """The registered factory: ``[nlp.tokenizer] @tokenizers = "pas_offer_tokenizer"`` in a config."""

    def make(nlp: Language) -> OfferTokenizer:
        return OfferTokenizer(nlp.vocab)

    return make
