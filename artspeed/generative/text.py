"""Text every machine has, and characters as tokens: ``text_corpus`` and ``CharTokenizer``.

The corpus is the Python standard library's own top-level ``.py`` files (the
folder ``sysconfig.get_paths()["stdlib"]``): nothing to download. It is split
**by file** into train and held-out text (a file goes to held-out when the
CRC-32 of its name is a multiple of 10: about 10% of the files, the same on
every machine with the same Python), so the held-out loss measures code the
model never saw. Reading it all (about 4.7 M characters) takes well under a
second.

The tokenizer is character-level: printable ASCII, newline and tab, 97
tokens. ``encode`` of anything else raises; the corpus is cleaned for it
(every other character is replaced by ``REPLACEMENT``) so training never fails.

>>> corpus = text_corpus(limit_chars=20_000)
>>> corpus.train_chars + corpus.heldout_chars <= 20_000, set(corpus.train_files) & set(corpus.heldout_files)
(True, set())
>>> tok = CharTokenizer()
>>> tok.vocab_size, tok.decode(tok.encode("def f():\\n\\treturn 1"))
(97, 'def f():\\n\\treturn 1')
"""

from __future__ import annotations

import sysconfig
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artspeed.core import _checks
from artspeed.core._result import Result
from artspeed.core.config import fast_mode
from artspeed.core.errors import InvalidArgumentError, ModelError

__all__ = ["TextCorpus", "text_corpus", "CharTokenizer", "VOCABULARY", "REPLACEMENT",
           "FAST_CORPUS_CHARS"]

VOCABULARY = "\t\n" + "".join(chr(c) for c in range(32, 127))   # 97 characters
REPLACEMENT = "?"          # what the corpus puts in place of characters outside VOCABULARY
FAST_CORPUS_CHARS = 400_000  # the corpus's size in fast mode (ARTSPEED_FAST=1)
HELDOUT_MODULUS = 10        # a file is held out when crc32(name) % 10 == 0


def _held_out(name: str) -> bool:
    return zlib.crc32(name.encode("utf-8")) % HELDOUT_MODULUS == 0


def _clean(text: str) -> tuple[str, int]:
    """``text`` with each character outside VOCABULARY replaced; and how many were."""
    allowed = frozenset(VOCABULARY)
    bad = sum(1 for c in text if c not in allowed)
    if not bad:
        return text, 0
    return "".join(c if c in allowed else REPLACEMENT for c in text), bad


@dataclass(frozen=True, repr=False)
class TextCorpus(Result):
    """Train and held-out text, split by file; ``repr`` shows counts, never the text."""

    train_text: str = field(repr=False)
    heldout_text: str = field(repr=False)
    train_files: tuple = ()
    heldout_files: tuple = ()
    replaced_chars: int = 0      # characters outside VOCABULARY, replaced by REPLACEMENT
    source: str = ""             # the folder read
    read_seconds: float = 0.0
    limit_chars: int | None = None

    @property
    def train_chars(self) -> int:
        return len(self.train_text)

    @property
    def heldout_chars(self) -> int:
        return len(self.heldout_text)

    def __repr__(self) -> str:
        return (f"<TextCorpus {self.train_chars:,} train chars ({len(self.train_files)} files), "
                f"{self.heldout_chars:,} held-out chars ({len(self.heldout_files)} files)>")

    def to_dict(self) -> dict:
        """Everything but the text itself: files, counts, source, time."""
        return {"train_files": list(self.train_files), "heldout_files": list(self.heldout_files),
                "train_chars": self.train_chars, "heldout_chars": self.heldout_chars,
                "replaced_chars": self.replaced_chars, "source": self.source,
                "read_seconds": self.read_seconds, "limit_chars": self.limit_chars}

    def _html_rows(self):
        yield "train", f"{self.train_chars:,} chars from {len(self.train_files)} files"
        yield "held-out", f"{self.heldout_chars:,} chars from {len(self.heldout_files)} files"
        yield "replaced characters", self.replaced_chars
        yield "source", self.source
        yield "read in (s)", round(self.read_seconds, 3)


def _read(folder: Path, names, budget: int | None) -> tuple[str, tuple, int]:
    parts, used, replaced, size = [], [], 0, 0
    for name in names:
        if budget is not None and size >= budget:
            break
        try:
            text = (folder / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue       # unreadable: skipped
        if budget is not None:
            text = text[:budget - size]
        text, bad = _clean(text)
        parts.append(text)
        used.append(name)
        replaced += bad
        size += len(text)
    return "".join(parts), tuple(used), replaced


def text_corpus(limit_chars: int | None = None, *, folder=None) -> TextCorpus:
    """The standard library's top-level ``.py`` files as train and held-out text.

    Files are read in sorted order as UTF-8 (unreadable ones are skipped) and
    split by file (see the module's docstring). Characters outside
    ``VOCABULARY`` are replaced by ``REPLACEMENT`` (counted in ``replaced_chars``).
    ``limit_chars`` caps the total: 90% of it for train, 10% for held-out (the
    last file read is cut); fast mode caps it at ``FAST_CORPUS_CHARS``.
    ``folder`` reads another folder of ``.py`` files instead.
    """
    limit_chars = _checks.whole_number("limit_chars", limit_chars, 100, optional=True)
    if limit_chars is None and fast_mode():
        limit_chars = FAST_CORPUS_CHARS
    start = time.perf_counter()
    source = Path(folder if folder is not None else sysconfig.get_paths()["stdlib"])
    names = sorted(p.name for p in source.glob("*.py") if p.is_file())
    train_names = [n for n in names if not _held_out(n)]
    heldout_names = [n for n in names if _held_out(n)]
    if not train_names or not heldout_names:
        raise InvalidArgumentError(
            f"{source} has {len(names)} .py files, too few to split into train and held-out "
            "files; give a folder with at least a few dozen .py files")
    heldout_budget = None if limit_chars is None else max(limit_chars // 10, 1)
    train_budget = None if limit_chars is None else limit_chars - heldout_budget
    train, train_used, bad_train = _read(source, train_names, train_budget)
    heldout, heldout_used, bad_heldout = _read(source, heldout_names, heldout_budget)
    if not train or not heldout:
        raise InvalidArgumentError(f"could not read enough text from {source}; give a folder "
                                   "of readable UTF-8 .py files")
    return TextCorpus(train, heldout, train_used, heldout_used, bad_train + bad_heldout,
                      str(source), time.perf_counter() - start, limit_chars)


class CharTokenizer:
    """Characters to token ids and back: one id per character of ``chars``.

    ``encode`` is strict: a character outside the vocabulary raises
    ``InvalidArgumentError`` naming it (nothing is mapped silently).

    >>> tok = CharTokenizer()
    >>> tok.encode("é")
    Traceback (most recent call last):
    ...
    artspeed.InvalidArgumentError: text has 1 character outside the model's vocabulary (printable ASCII, newline and tab): 'é'; remove or replace it
    >>> CharTokenizer.from_dict(tok.to_dict()) == tok
    True
    """

    def __init__(self, chars: str = VOCABULARY):
        if not isinstance(chars, str) or not chars or len(set(chars)) != len(chars):
            raise InvalidArgumentError("a tokenizer needs a non-empty string of distinct "
                                       f"characters, got {chars!r:.60}")
        self.chars = chars
        self._ids = {c: i for i, c in enumerate(chars)}
        self._table = np.array(list(chars))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def _describe(self) -> str:
        if self.chars == VOCABULARY:
            return "printable ASCII, newline and tab"
        return f"{self.vocab_size} characters"

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._ids))

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """``text`` as int32 token ids; raises on a character outside the vocabulary.

        ``what`` names the text in the error (``"the prompt"``).
        """
        if not isinstance(text, str):
            raise InvalidArgumentError(f"{what} must be a str, got {type(text).__name__}")
        bad = self.unknown(text)
        if bad:
            shown = ", ".join(repr(c) for c in bad[:10]) + (", ..." if len(bad) > 10 else "")
            raise InvalidArgumentError(
                f"{what} has {len(bad)} character{'s' * (len(bad) != 1)} outside the model's "
                f"vocabulary ({self._describe()}): {shown}; remove or replace "
                f"{'them' if len(bad) != 1 else 'it'}")
        return np.fromiter((self._ids[c] for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids) -> str:
        """Token ids back to text."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InvalidArgumentError(f"token ids must be from 0 to {self.vocab_size - 1}")
        return "".join(self._table[ids].tolist())

    def to_dict(self) -> dict:
        return {"kind": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, data) -> CharTokenizer:
        """The tokenizer ``to_dict`` described; a ModelError for anything else."""
        if not isinstance(data, dict) or data.get("kind") != "char" \
                or not isinstance(data.get("chars"), str):
            raise ModelError("the tokenizer record is not a character tokenizer's "
                             "({'kind': 'char', 'chars': ...}); save the model again")
        return cls(data["chars"])

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"<CharTokenizer {self.vocab_size} tokens: {self._describe()}>"
