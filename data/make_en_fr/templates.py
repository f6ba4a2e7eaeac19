"""The sentence templates: each samples its parts, then calls a builder; ``TEMPLATES`` weighs them.

A template returns None when the draw does not make a good sentence (a noun twice, no adjective
that fits); the writer then simply draws again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Optional

from .alignment import Example
from .grammar import NP, POSSESSIVES, Target
from .sampling import (
    DETS_HAVE,
    DETS_LIKING,
    DETS_OBJECT,
    DETS_SUBJECT,
    distinct_nouns,
    nouns_with,
    pick,
    sample_adjective,
    sample_negation,
    sample_np,
    sample_subject,
    sample_target,
)
from .sentences import build_be_adjective, build_be_at, build_be_profession, build_city_object, build_clause
from .vocabulary import CITIES, GIVING_VERBS, INTRANSITIVE_VERBS, NOUN, PROFESSIONS, TRANSITIVE_VERBS

ANY_NOUN = "person animal thing furniture fixture vehicle food place nature"
HOME_P = 0.12  # "to my house" → "chez moi", often enough to learn its seven pronouns
SECOND_PP_P = 0.5  # an intransitive verb's place phrase is followed by "with ..."
EXTRA_PPS = (("in", "outdoor"), ("in", "room"), ("on", "onplace"), ("near", "landmark"), ("with", "person"))
LOCATIONS: dict[str, tuple[tuple[str, str], ...]] = {  # subject kind → (preposition, target tag)
    "person": (("in", "inside"), ("in", "city"), ("in", "passenger"), ("on", "ride"), ("on", "onplace"),
               ("near", "landmark"), ("with", "person"), ("behind", "landmark"), ("in front of", "landmark"),
               ("at", "work")),
    "animal": (("in", "inside"), ("on", "onplace"), ("under", "under"), ("on", "surface"), ("near", "landmark"),
               ("with", "person"), ("behind", "landmark")),
    "thing": (("in", "holder"), ("in", "room"), ("on", "surface"), ("under", "under"), ("near", "landmark")),
    "food": (("in", "holder"), ("in", "room"), ("on", "surface")),
    "vehicle": (("in", "outdoor"), ("on", "onplace"), ("near", "landmark"), ("behind", "landmark"),
                ("in front of", "landmark")),
}
# "the man with the dog is tall", "the cat under the table is black": a subject with a phrase after it
SUBJECT_PPS: dict[str, tuple[tuple[str, str], ...]] = {
    "person": (("in", "inside"), ("on", "onplace"), ("near", "landmark"), ("with", "person"), ("with", "animal"),
               ("behind", "landmark"), ("in front of", "landmark")),
    "animal": LOCATIONS["animal"],
    "thing": LOCATIONS["thing"],
    "vehicle": (("in", "outdoor"), ("near", "landmark"), ("behind", "landmark"), ("in front of", "landmark")),
}


def sample_be_adjective(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, ANY_NOUN, pronoun_p=0.3)
    avoid = [a.group for a in subject.adjs] if isinstance(subject, NP) else []
    adj = sample_adjective(rng, subject.tags, avoid)
    return build_be_adjective(subject, adj, sample_negation(rng)) if adj else None


def sample_be_profession(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, "family", pronoun_p=0.6)
    return build_be_profession(subject, rng.choice(PROFESSIONS), sample_negation(rng))


def sample_be_at(rng: random.Random) -> Optional[Example]:
    kind = pick(rng, (("person", 4), ("animal", 3), ("thing", 3), ("food", 1), ("vehicle", 1)))
    subject = sample_subject(rng, kind, pronoun_p=0.3)
    prep, tag = rng.choice(LOCATIONS[kind])
    target = sample_target(rng, tag)
    return build_be_at(subject, prep, target, sample_negation(rng)) if distinct_nouns(subject, target) else None


def sample_have(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, "person", pronoun_p=0.45)
    obj = sample_np(rng, nouns_with("thing animal vehicle food house"), DETS_HAVE, adj_p=0.45)
    if not distinct_nouns(subject, obj):
        return None
    return build_clause(subject, ("have",), "avoir", sample_negation(rng), obj)


def sample_destination(rng: random.Random, city_p: float) -> Target:
    """Where one goes or comes from: a city, someone's house, or any place."""
    if rng.random() < city_p:
        return rng.choice(CITIES)
    if rng.random() < HOME_P:
        return NP(NOUN["house"], rng.choice(list(POSSESSIVES)), False)
    return sample_target(rng, "place")


def sample_go(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, "person", pronoun_p=0.45)
    pps = [("to", sample_destination(rng, 0.25))]
    if rng.random() < 0.3:
        pps.append(("with", sample_target(rng, "person")))
    if not distinct_nouns(subject, *(target for _, target in pps)):
        return None
    return build_clause(subject, ("go",), "aller", sample_negation(rng), pps=pps)


def sample_come(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, "person", pronoun_p=0.45)
    target = sample_destination(rng, 0.5)
    return build_clause(subject, ("come",), "venir", sample_negation(rng), pps=[("from", target)])


def sample_live(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, "person", pronoun_p=0.45)
    if rng.random() < 0.5:
        target: Target = rng.choice(CITIES)
    else:
        dets = (("the", 3), ("indef", 4), ("poss", 3))
        target = sample_np(rng, nouns_with("dwelling"), dets, adj_p=0.45, plural_p=0.0)
    return build_clause(subject, ("live",), "habiter", sample_negation(rng), pps=[("in", target)])


def sample_transitive(rng: random.Random) -> Optional[Example]:
    verb = rng.choice(TRANSITIVE_VERBS)
    subject = sample_subject(rng, verb.subjects)
    if "city" in verb.objects and rng.random() < 0.3:
        return build_city_object(subject, verb, rng.choice(CITIES), sample_negation(rng))
    obj = sample_np(rng, nouns_with(verb.objects), DETS_LIKING if verb.generic else DETS_OBJECT)
    pps = [(prep, sample_target(rng, tag)) for prep, tag in [rng.choice(EXTRA_PPS)] if rng.random() < 0.25]
    if obj.det == "generic":
        pps = []  # "she likes toys on the island" would read as liking toys that are there
    if not distinct_nouns(subject, obj, *(target for _, target in pps)):
        return None
    return build_clause(subject, verb.en, verb.fr, sample_negation(rng), obj, pps)


def sample_intransitive(rng: random.Random) -> Optional[Example]:
    verb = rng.choice(INTRANSITIVE_VERBS)
    subject = sample_subject(rng, verb.subjects)
    prep, tag = rng.choice(verb.pps).split(":")
    pps = [(prep, sample_target(rng, tag))]
    company = [pp for pp in verb.pps if pp.startswith("with:")]
    if prep != "with" and company and rng.random() < SECOND_PP_P:  # we walk on the beach with the children
        prep2, tag2 = rng.choice(company).split(":")
        pps.append((prep2, sample_target(rng, tag2)))
    if not distinct_nouns(subject, *(target for _, target in pps)):
        return None
    return build_clause(subject, verb.en, verb.fr, sample_negation(rng), pps=pps)


def sample_subject_phrase(rng: random.Random) -> Optional[Example]:
    kind = pick(rng, (("person", 4), ("animal", 3), ("thing", 3), ("vehicle", 1)))
    plural_p = 0.25 if kind in ("person", "animal") else 0.15
    head = sample_np(rng, nouns_with(kind), DETS_SUBJECT, adj_p=0.15, plural_p=plural_p)
    prep, tag = rng.choice(SUBJECT_PPS[kind])
    subject = replace(head, pp=(prep, sample_target(rng, tag)))
    if not distinct_nouns(subject):
        return None
    if kind == "person" and rng.random() < 0.3:
        return build_be_profession(subject, rng.choice(PROFESSIONS), sample_negation(rng))
    adj = sample_adjective(rng, head.tags, [a.group for a in head.adjs])
    return build_be_adjective(subject, adj, sample_negation(rng)) if adj else None


def sample_give(rng: random.Random) -> Optional[Example]:
    verb = rng.choice(GIVING_VERBS)
    subject = sample_subject(rng, "person")
    obj = sample_np(rng, nouns_with(verb.objects), DETS_OBJECT, adj_p=0.25)
    recipient = sample_np(rng, nouns_with("person"), (("the", 5), ("poss", 5)), adj_p=0.15, plural_p=0.2)
    if not distinct_nouns(subject, obj, recipient):
        return None
    return build_clause(subject, verb.en, verb.fr, sample_negation(rng), obj, [("to", recipient)])


TEMPLATES: tuple[tuple[Callable[[random.Random], Optional[Example]], float], ...] = (
    (sample_be_adjective, 14),
    (sample_be_profession, 7),
    (sample_be_at, 11),
    (sample_have, 11),
    (sample_go, 8),
    (sample_come, 4),
    (sample_live, 4),
    (sample_transitive, 26),
    (sample_intransitive, 10),
    (sample_give, 5),
    (sample_subject_phrase, 8),
)
