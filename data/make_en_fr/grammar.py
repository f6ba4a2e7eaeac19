"""Function words and the phrases built from them: pronouns, possessives, prepositions, the noun phrase.

These stay code rather than data: the rendering rules test them by name ("you all", "house", "from").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from .vocabulary import Adjective, City, Noun

PREPOSITIONS: dict[str, tuple[str, ...]] = {
    "in": ("dans",),
    "on": ("sur",),
    "under": ("sous",),
    "near": ("près", "de"),
    "behind": ("derrière",),
    "in front of": ("devant",),
    "with": ("avec",),
    "to": ("à",),
    "at": ("à",),
    "from": ("de",),
}
CITY_PREPOSITIONS = {"in": ("à",), "to": ("à",), "at": ("à",), "from": ("de",)}

POSSESSIVES: dict[str, tuple[str, str, str]] = {  # masc sg, fem sg, plural
    "my": ("mon", "ma", "mes"),
    "your": ("ton", "ta", "tes"),
    "his": ("son", "sa", "ses"),
    "her": ("son", "sa", "ses"),
    "our": ("notre", "notre", "nos"),
    "their": ("leur", "leur", "leurs"),
}
YOUR_PLURAL = ("votre", "votre", "vos")
STRESS_PRONOUNS = {"my": "moi", "your": "toi", "his": "lui", "her": "elle", "our": "nous", "their": "eux"}
# "to/at" + a possessive place: à mon école, à son bureau (building or workplace), but dans sa chambre,
# dans son village, and chez moi for "my house" (dans ma petite maison with an adjective). Other places
# (park, beach, river...) never take a possessive in a prepositional phrase.
POSSESSIVE_PLACE_PREPOSITIONS = {"house": "dans", "garden": "dans", "kitchen": "dans", "bedroom": "dans",
                                 "village": "dans"}


@dataclass(frozen=True)
class Pronoun:
    en: tuple[str, ...]
    fr_m: str
    fr_f: str
    slot: int  # conjugation slot 0-5
    gender: str
    fixed_gender: bool  # he/she; the others default to masculine

    @property
    def plural(self) -> bool:
        return self.slot >= 3

    @property
    def tags(self) -> frozenset[str]:
        return frozenset({"person"})

    @property
    def you_all(self) -> bool:
        return self.en == ("you", "all")

    @property
    def fr(self) -> str:
        return self.fr_f if self.gender == "f" else self.fr_m


PRONOUNS: dict[str, Pronoun] = {
    "i": Pronoun(("i",), "je", "je", 0, "m", False),
    "you": Pronoun(("you",), "tu", "tu", 1, "m", False),
    "he": Pronoun(("he",), "il", "il", 2, "m", True),
    "she": Pronoun(("she",), "elle", "elle", 2, "f", True),
    "we": Pronoun(("we",), "nous", "nous", 3, "m", False),
    "you all": Pronoun(("you", "all"), "vous", "vous", 4, "m", False),
    "they": Pronoun(("they",), "ils", "elles", 5, "m", False),
}
PRONOUN_WEIGHTS = (("i", 5), ("you", 4), ("he", 5), ("she", 5), ("we", 4), ("you all", 2), ("they", 4))


@dataclass(frozen=True)
class NP:
    """A noun phrase: determiner kind, up to two adjectives, an optional prepositional phrase.

    ``det`` is "the", "a", "some", a possessive, or "generic" (a bare English plural after a verb of
    liking: "cookies" → "les biscuits"). ``adj2`` comes second in English ("the small red car") and
    is always one placed after the French noun ("la petite voiture rouge"). ``pp`` follows the
    noun ("the cat under the table").
    """

    noun: Noun
    det: str
    plural: bool
    adj: Optional[Adjective] = None
    adj2: Optional[Adjective] = None
    pp: Optional[tuple[str, Union[NP, City]]] = None

    @property
    def adjs(self) -> tuple[Adjective, ...]:
        return tuple(a for a in (self.adj, self.adj2) if a is not None)

    @property
    def slot(self) -> int:
        return 5 if self.plural else 2

    @property
    def gender(self) -> str:
        return self.noun.gender

    @property
    def tags(self) -> frozenset[str]:
        return self.noun.tags

    @property
    def you_all(self) -> bool:
        return False


Subject = Union[Pronoun, NP]
Target = Union[NP, City]
