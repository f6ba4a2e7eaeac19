"""Sentence builders: one per template, each taking fully chosen parts.

Because the parts come in ready-made, the same code serves the random samplers and the fixed
examples (and the tests, which build a pair and compare its French and alignment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

from .alignment import Builder, Example, FrTok, check_pair, links, require
from .grammar import NP, PRONOUNS, Pronoun, Subject, Target
from .morphology import english_plural
from .render import render_np, render_pp, render_subject, render_verb
from .surface import english_surface, french_surface
from .vocabulary import ADJECTIVE, NOUN, PROFESSION, Adjective, City, Profession, Verb

MIN_TOKENS, MAX_TOKENS = 3, 12


def finish(b: Builder, fr_tokens: Sequence[FrTok]) -> Optional[Example]:
    """Surface both sides, check them against the project tokeniser, and collect links.

    Returns None for sentences outside the length range.
    """
    en = english_surface(b.en)
    fr = french_surface(fr_tokens)
    if not (MIN_TOKENS <= len(en) <= MAX_TOKENS and MIN_TOKENS <= len(fr) <= MAX_TOKENS):
        return None
    en_text = " ".join(en)
    fr_text = " ".join(t.form for t in fr).replace("' ", "'")
    check_pair(en, fr, en_text, fr_text)
    return Example(en_text, fr_text, links(fr))


def build_be_adjective(subject: Subject, adj: Adjective, negated: bool) -> Optional[Example]:
    """the red car is small → la voiture rouge est petite"""
    b = Builder()
    fr = render_subject(b, subject) + render_verb(b, (), "être", subject.slot, negated)
    fr.append(FrTok(adj.form(subject.gender, subject.plural), b.add(adj.en)))
    return finish(b, fr)


def build_be_profession(subject: Subject, prof: Profession, negated: bool) -> Optional[Example]:
    """i am a student → je suis étudiant (no French article; "a" stays unaligned)."""
    if isinstance(subject, Pronoun) and prof.only and not subject.fixed_gender:
        subject = replace(subject, gender=prof.only)  # they are actresses → elles sont actrices
    if prof.only and prof.only != subject.gender:
        return None
    b = Builder()
    fr = render_subject(b, subject) + render_verb(b, (), "être", subject.slot, negated)
    if not subject.plural:
        b.add("a")
    en = english_plural(prof.en) if subject.plural else prof.en
    fr.append(FrTok(prof.fr(subject.gender, subject.plural), b.add(*en.split())))
    return finish(b, fr)


def build_be_at(subject: Subject, prep: str, target: Target, negated: bool) -> Optional[Example]:
    """the cat is under the table → le chat est sous la table"""
    b = Builder()
    fr = render_subject(b, subject) + render_verb(b, (), "être", subject.slot, negated)
    return finish(b, fr + render_pp(b, prep, target, subject.you_all))


def build_clause(
    subject: Subject,
    verb: tuple[str, ...],
    fr_verb: str,
    negated: bool,
    obj: Optional[NP] = None,
    pps: Sequence[tuple[str, Target]] = (),
) -> Optional[Example]:
    """Subject, verb (ne ... pas), optional direct object (pas de), prepositional phrases."""
    b = Builder()
    fr = render_subject(b, subject) + render_verb(b, verb, fr_verb, subject.slot, negated)
    if obj is not None:
        fr += render_np(b, obj, negated=negated, you_all=subject.you_all)
    for prep, target in pps:
        fr += render_pp(b, prep, target, subject.you_all)
    return finish(b, fr)


def build_city_object(subject: Subject, verb: Verb, city: City, negated: bool) -> Optional[Example]:
    """visit paris → visiter paris: a bare city as direct object."""
    b = Builder()
    fr = render_subject(b, subject) + render_verb(b, verb.en, verb.fr, subject.slot, negated)
    return finish(b, fr + [FrTok(city.fr, b.add(city.en))])


def fixed_examples() -> list[Example]:
    """Pairs the corpus must contain (in train) whatever the seed."""
    red_car = NP(NOUN["car"], "the", False, ADJECTIVE["red"])
    examples = [
        build_be_profession(PRONOUNS["i"], PROFESSION["student"], False),
        build_be_adjective(red_car, ADJECTIVE["small"], False),
        build_be_profession(PRONOUNS["he"], PROFESSION["teacher"], False),
        build_be_profession(PRONOUNS["she"], PROFESSION["doctor"], False),
        build_be_profession(PRONOUNS["they"], PROFESSION["teacher"], False),
        build_be_profession(PRONOUNS["she"], PROFESSION["lawyer"], False),
        build_clause(PRONOUNS["i"], ("have",), "avoir", True, NP(NOUN["car"], "a", False)),
        build_clause(PRONOUNS["we"], ("go",), "aller", False, pps=[("to", NP(NOUN["park"], "the", False))]),
        build_be_adjective(NP(NOUN["house"], "the", False, ADJECTIVE["small"]), ADJECTIVE["white"], False),
        build_clause(PRONOUNS["he"], ("talk",), "parler", False, pps=[("to", NP(NOUN["friend"], "my", False))]),
    ]
    require(all(e is not None for e in examples), "a fixed example fell outside the length range")
    return [e for e in examples if e is not None]
