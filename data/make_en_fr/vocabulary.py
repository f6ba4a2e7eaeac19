"""The content words: their types, and the loader for the data files in ``lexicon/``.

The words are data so that adding a noun or fixing a gender is an edit to a table, not to code.
Row order matters: the samplers draw by position, so reordering rows changes the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .morphology import english_plural, french_plural

LEXICON = Path(__file__).resolve().parent / "lexicon"  # next to this file, wherever it is run from
NONE = "-"  # an empty cell: the regular form, or nothing


@dataclass(frozen=True)
class Noun:
    en: str
    en_pl: str
    fr: str
    fr_pl: str
    gender: str  # "m" or "f"
    tags: frozenset[str]


@dataclass(frozen=True)
class City:
    en: str
    fr: str


@dataclass(frozen=True)
class Adjective:
    en: str
    forms: tuple[str, str, str, str]  # masc sg, fem sg, masc pl, fem pl
    before_noun: bool
    tags: frozenset[str]
    group: str  # adjectives of one group are not combined in a sentence ("the small car is big")
    m_before_vowel: str  # masc sg before a vowel: bel, vieil, nouvel; else forms[0]
    not_before: frozenset[str]  # nouns it would turn into another word (la belle mère = mother-in-law)

    def form(self, gender: str, plural: bool, before_vowel: bool = False) -> str:
        """The French form agreeing with a noun; ``before_vowel`` picks bel/vieil/nouvel."""
        if gender == "m" and not plural and before_vowel:
            return self.m_before_vowel
        return self.forms[(2 if plural else 0) + (gender == "f")]


@dataclass(frozen=True)
class Profession:
    en: str
    fr_m: str
    fr_f: str
    only: Optional[str]  # "m"/"f" when the English word is gendered (actor/actress)

    def fr(self, gender: str, plural: bool) -> str:
        word = self.fr_f if gender == "f" else self.fr_m
        return word if not plural or word.endswith(("s", "x")) else word + "s"


@dataclass(frozen=True)
class Verb:
    en: tuple[str, ...]  # ("look", "for"): only the first word is conjugated
    fr: str  # infinitive
    objects: frozenset[str]  # noun tags accepted as direct object ("city" for cities)
    subjects: frozenset[str]
    pps: tuple[str, ...]  # "prep:tag" phrases that may follow an intransitive use
    generic: bool = False  # a verb of liking: objects are general (i like cookies → j'aime les biscuits)


# ----------------------------------------------------------------------------- reading the tables


def read_table(name: str) -> Iterator[dict[str, str]]:
    """Rows of ``lexicon/<name>.tsv`` as dicts, in file order; ``#`` lines and blank lines are notes.

    The first other line names the columns. A cell of "-" reads as "".
    """
    path = LEXICON / f"{name}.tsv"
    header: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if not header:
            header = cells
            continue
        if len(cells) != len(header):
            raise ValueError(f"{path.name}:{number}: {len(cells)} cells, expected {len(header)} ({header})")
        yield {key: "" if cell == NONE else cell for key, cell in zip(header, cells)}


def choice(row: dict[str, str], key: str, allowed: tuple[str, ...]) -> str:
    """A cell that must be one of a few words; a typo in the tables stops the generator."""
    if row[key] not in allowed:
        raise ValueError(f"{row}: {key} must be one of {allowed}, not {row[key]!r}")
    return row[key]


def tags(cell: str) -> frozenset[str]:
    return frozenset(cell.split())


def noun(row: dict[str, str]) -> Noun:
    en, fr = row["en"], row["fr"]
    gender = choice(row, "gender", ("m", "f"))
    return Noun(en, row["en_pl"] or english_plural(en), fr, row["fr_pl"] or french_plural(fr), gender, tags(row["tags"]))


def adjective(row: dict[str, str]) -> Adjective:
    """Regular agreement unless ``forms`` lists the four forms: ms fs mp fp."""
    fr = row["fr"]
    if row["forms"]:
        ms, fs, mp, fp = row["forms"].split()
    elif fr.endswith("e"):
        ms, fs, mp, fp = fr, fr, fr + "s", fr + "s"
    elif fr.endswith("eux"):
        ms, fs, mp, fp = fr, fr[:-1] + "se", fr, fr[:-1] + "ses"
    else:
        ms, fs, mp, fp = fr, fr + "e", french_plural(fr), fr + "es"
    before = choice(row, "position", ("before", "after")) == "before"
    return Adjective(row["en"], (ms, fs, mp, fp), before, tags(row["tags"]), row["group"], row["vowel"] or ms,
                     tags(row["not_before"]))


def profession(row: dict[str, str]) -> Profession:
    return Profession(row["en"], row["fr_m"], row["fr_f"], choice(row, "only", ("", "m", "f")) or None)


def verbs(use: str) -> tuple[Verb, ...]:
    """The verbs of one use ("transitive", "intransitive", "giving"), in file order."""
    rows = [row for row in read_table("verbs") if choice(row, "use", ("transitive", "intransitive", "giving")) == use]
    return tuple(
        Verb(tuple(row["en"].split()), row["fr"], tags(row["objects"]), tags(row["subjects"]), tuple(row["pps"].split()),
             choice(row, "generic", ("yes", "no")) == "yes")
        for row in rows
    )


NOUNS: tuple[Noun, ...] = tuple(noun(row) for row in read_table("nouns"))
NOUN = {n.en: n for n in NOUNS}
CITIES: tuple[City, ...] = tuple(City(row["en"], row["fr"]) for row in read_table("cities"))
ADJECTIVES: tuple[Adjective, ...] = tuple(adjective(row) for row in read_table("adjectives"))
ADJECTIVE = {a.en: a for a in ADJECTIVES}
PROFESSIONS: tuple[Profession, ...] = tuple(profession(row) for row in read_table("professions"))
PROFESSION = {p.en: p for p in PROFESSIONS}
TRANSITIVE_VERBS = verbs("transitive")
INTRANSITIVE_VERBS = verbs("intransitive")
GIVING_VERBS = verbs("giving")
