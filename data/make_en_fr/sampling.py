"""Random parts of a sentence: weighted choices, noun phrases, adjectives, subjects, phrase targets.

Every draw goes through the one ``random.Random`` passed in, over ordered sequences only (never a
set), so a seed always yields the same stream of choices and the same corpus.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional, TypeVar

from .grammar import NP, POSSESSIVE_PLACE_PREPOSITIONS, POSSESSIVES, PRONOUN_WEIGHTS, PRONOUNS, Subject, Target
from .vocabulary import ADJECTIVES, CITIES, NOUNS, Adjective, Noun

T = TypeVar("T")

NEGATION_P = 0.3
DETS_SUBJECT = (("the", 6), ("poss", 4))
DETS_OBJECT = (("the", 4), ("indef", 3), ("poss", 3))
DETS_PLACE = (("the", 8), ("poss", 2))
DETS_HAVE = (("indef", 6), ("the", 2), ("poss", 1))
DETS_LIKING = (("the", 4), ("generic", 4), ("poss", 3))  # no "i like a cookie": j'aime les biscuits
TWO_ADJECTIVES_P = 0.3  # of noun phrases that have an adjective
# The second of two adjectives on one noun: one that follows the French noun and comes last in
# English too (the small red car → la petite voiture rouge, the old broken clock → la vieille
# horloge cassée). The first is always one placed before the French noun.
SECOND_ADJECTIVES = frozenset("red blue green yellow black white gray empty full open closed broken clean dirty".split())


def pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    """Weighted choice over an ordered list (never a set, so runs are reproducible)."""
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for item, w in weighted:
        x -= w
        if x < 0:
            return item
    return weighted[-1][0]


def has_tag(tags: frozenset[str], wanted: frozenset[str]) -> bool:
    return not tags.isdisjoint(wanted)


def nouns_with(tags: str | frozenset[str]) -> list[Noun]:
    """Nouns carrying any of the tags; a noun's own English word counts as a tag ("bird")."""
    wanted = frozenset(tags.split()) if isinstance(tags, str) else tags
    return [n for n in NOUNS if has_tag(n.tags | {n.en}, wanted)]


def sample_adjective(
    rng: random.Random, tags: frozenset[str], avoid_groups: Sequence[str] = (), noun: Optional[Noun] = None
) -> Optional[Adjective]:
    """An adjective that fits the tags; with ``noun`` (attributive use) skip idiom-making pairs."""
    options = [
        a for a in ADJECTIVES
        if has_tag(a.tags, tags) and a.group not in avoid_groups and (noun is None or noun.en not in a.not_before)
    ]
    return rng.choice(options) if options else None


def sample_adjective_pair(rng: random.Random, noun: Noun) -> Optional[tuple[Adjective, Adjective]]:
    """A before-noun adjective and an after-noun one, both fitting the noun, or None."""
    first = [a for a in ADJECTIVES if a.before_noun and has_tag(a.tags, noun.tags) and noun.en not in a.not_before]
    second = [a for a in ADJECTIVES if a.en in SECOND_ADJECTIVES and has_tag(a.tags, noun.tags)]
    if not first or not second:
        return None
    return rng.choice(first), rng.choice(second)


def sample_np(
    rng: random.Random,
    nouns: Sequence[Noun],
    dets: Sequence[tuple[str, float]],
    adj_p: float = 0.35,
    plural_p: float = 0.3,
) -> NP:
    """A random noun phrase over ``nouns``; the possessive, if any, is chosen at random."""
    noun = rng.choice(nouns)
    plural = rng.random() < (plural_p / 5 if "place" in noun.tags else plural_p)  # "you leave some seas"
    det = pick(rng, dets)
    if det == "generic":
        plural = True
    elif det == "indef":
        det = "some" if plural else "a"
    elif det == "poss" and "nopossessive" in noun.tags:
        det = "the"
    elif det == "poss":
        det = rng.choice(list(POSSESSIVES))
        plural = plural and "onlyone" not in noun.tags
    adj = sample_adjective(rng, noun.tags, noun=noun) if rng.random() < adj_p else None
    adj2 = None
    if adj is not None and rng.random() < TWO_ADJECTIVES_P:
        pair = sample_adjective_pair(rng, noun)
        if pair is not None:
            adj, adj2 = pair
    return NP(noun, det, plural, adj, adj2)


def sample_subject(rng: random.Random, tags: str | frozenset[str], pronoun_p: float = 0.4) -> Subject:
    """A pronoun (people only) or a definite/possessive noun phrase."""
    wanted = frozenset(tags.split()) if isinstance(tags, str) else tags
    if has_tag(wanted, frozenset({"person", "family"})) and rng.random() < pronoun_p:
        return PRONOUNS[pick(rng, PRONOUN_WEIGHTS)]
    plural_p = 0.3 if has_tag(wanted, frozenset({"person", "animal"})) else 0.15
    return sample_np(rng, nouns_with(wanted), DETS_SUBJECT, adj_p=0.3, plural_p=plural_p)


def sample_target(rng: random.Random, tag: str) -> Target:
    """What a "prep:tag" phrase points at: a city or a definite/possessive noun phrase.

    Places stay singular: "in the kitchens" reads oddly. Only places that someone owns take a
    possessive (my house, my office, my garden; not "my beach"): see POSSESSIVE_PLACE_PREPOSITIONS.
    """
    if tag == "city":
        return rng.choice(CITIES)
    plural_p = 0.2 if tag in ("person", "animal") else 0.0
    np = sample_np(rng, nouns_with(tag), DETS_PLACE, adj_p=0.2, plural_p=plural_p)
    if np.det in POSSESSIVES and "place" in np.tags and not possessive_place(np.noun):
        np = replace(np, det="the")
    return np


def possessive_place(noun: Noun) -> bool:
    """Places that read right after "to my" / "at his": a building, a workplace, a home's rooms."""
    return noun.en in POSSESSIVE_PLACE_PREPOSITIONS or has_tag(noun.tags, frozenset({"building", "work"}))


def sample_negation(rng: random.Random) -> bool:
    return rng.random() < NEGATION_P


def np_nouns(part: object) -> list[str]:
    """The nouns of a noun phrase, its prepositional phrase's included."""
    if not isinstance(part, NP):
        return []
    return [part.noun.en] + (np_nouns(part.pp[1]) if part.pp else [])


def distinct_nouns(*parts: object) -> bool:
    """No noun twice in a sentence ("the bus near the bus")."""
    nouns = [n for p in parts for n in np_nouns(p)]
    return len(nouns) == len(set(nouns))
