"""Deterministic English→French synthetic corpus with gold word alignments.

Why synthetic: a small, grammatical, fully known corpus lets a seq2seq model with attention be
trained in minutes, and its attention maps can be scored against alignments that are correct by
construction rather than guessed by an aligner.

What it writes (under ``--out``, default ``data/en-fr`` next to this script):

* ``train.tsv``, ``val.tsv``, ``test.tsv`` — ``english<TAB>french``, one pair a line, UTF-8,
  ``\\n`` line ends, lowercase, no final punctuation.
* ``train.align``, ``val.align``, ``test.align`` — the gold alignment of the pair on the same
  line, in Pharaoh format: space-separated ``i-j`` links, ``i`` a source (English) token index
  and ``j`` a target (French) token index, both 0-based over ``seq2seq_cli.data.tokenize``
  tokens (so ``l'homme`` is two tokens, ``l'`` and ``homme``), sorted by ``(i, j)``.

Alignment conventions: every French token is linked to the English word(s) it translates; a
link may be many-to-one or one-to-many ("not" → "ne" and "pas"; "to" + "the" → "au";
"look for" → "cherche"; "near" → "près" "de"; "to my house" → "chez moi", with "chez" linked to
"to" and "house" and "moi" to "my"). English words with no French counterpart stay unaligned: the
auxiliary "do/does" of negation and the article "a/an" before a profession. A French article with
no English one links to the noun: "i like cookies" → "j'aime les biscuits" (les ← cookies).

Translation rules the data keeps to, so that each English sentence has one translation:
"you" is "tu" and "you all" is "vous"; "your" is "ton/ta/tes", or "votre/vos" when the subject
is "you all"; "they" is "ils" (masculine by default) except with a feminine-only profession
("they are actresses" → "elles sont actrices"); pronouns other than "she" are masculine unless
such a profession says otherwise; gender-neutral English nouns take their masculine French
form ("the student" → "l'étudiant").

Idioms the rules keep out, since each would change the meaning:

* "like" never takes a person: "aimer" + a person reads as *love* ("elle aime son médecin"), and
  "apprécier" would make the verb's translation hang on the object that follows it, which the
  Quickstart model did not learn in 8 epochs. "like" → "aimer" stays for things, animals and
  places; "love" → "adorer" takes people too ("elle adore son frère").
* "like"/"love" never take "a"/"some": general likes are a bare English plural and a French
  definite plural ("we love cookies" → "nous adorons les biscuits", also after negation: "je
  n'aime pas les biscuits"); such objects get no extra phrase after them.
* Adjectives placed before the noun skip the nouns they would turn into another word
  (``not_before``): no "grand frère/grande sœur/grand oncle/grande tante" (older brother,
  great-uncle...), "grand ami/professeur/médecin" (great ...), "grand magasin" (department store),
  "bonne sœur" (nun), "bon homme", "bonne femme", "petit ami", "vieille fille", "belle-mère".
  "tall" with those nouns stays a predicate ("my brother is tall" → "mon frère est grand").
* One is "in" a car, bus, boat, plane or train ("dans") but "on" a bike ("sur le vélo").
* "to/at/from" + a possessive place: "to my house" → "chez moi" ("from my house" → "de chez
  moi"; with an adjective, "dans ma petite maison"); "to his garden/kitchen/bedroom/village" →
  "dans son ..."; buildings and workplaces keep "à" ("à mon bureau"). Places nobody owns (park,
  beach, river...) never take a possessive in a prepositional phrase.

Sentences are built from templates (be + adjective, be + profession, be + place, have, go to,
come from, live in, transitive and intransitive verbs, give/show ... to), each optionally
negated, and noun phrases may carry up to two adjectives and a phrase after the noun:

* two adjectives, one placed before the French noun and one after it ("the small red car" →
  "la petite voiture rouge", "some old broken clocks" → "de vieilles horloges cassées");
* a subject with a prepositional phrase after it ("the man with the dog is tall" → "l'homme avec
  le chien est grand", "the cat under the table is black" → "le chat sous la table est noir");
* an intransitive verb with two phrases ("we walk on the beach with the children" → "nous
  marchons sur la plage avec les enfants").

Every English sentence appears once in the whole corpus, so no test or validation sentence is
in training; the split is seeded, and two runs with the same seed write byte-identical files.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, TypeVar, Union

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from seq2seq_cli.data import tokenize  # noqa: E402  (needs the repo root on sys.path)

DEFAULT_SEED = 1789
DEFAULT_OUT = Path(__file__).resolve().parent / "en-fr"
SPLIT_SIZES = (("train", 20_000), ("val", 1_000), ("test", 1_000))
MIN_TOKENS, MAX_TOKENS = 3, 12
NEGATION_P = 0.3

T = TypeVar("T")

# ----------------------------------------------------------------------------- lexicon types


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


# ----------------------------------------------------------------------------- morphology

VOWELS = "aeiouàâäéèêëîïôöùûüœæ"
ASPIRATED_H: frozenset[str] = frozenset()  # the vocabulary avoids aspirated-h words (le héros)


def starts_with_vowel_sound(word: str) -> bool:
    """True where French elides before the word: a vowel or a mute h (l'homme, j'habite)."""
    return word[:1] in VOWELS or (word[:1] == "h" and word not in ASPIRATED_H)


def english_plural(phrase: str) -> str:
    """Regular English plural of the last word (police officer → police officers)."""
    *head, word = phrase.split()
    if word.endswith(("s", "sh", "ch", "x", "z")):
        word += "es"
    elif word.endswith("y") and word[-2:-1] not in "aeiou":
        word = word[:-1] + "ies"
    else:
        word += "s"
    return " ".join([*head, word])


def english_third_singular(verb: str) -> str:
    """he/she/it form: goes, watches, carries, has."""
    if verb == "have":
        return "has"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def french_plural(word: str) -> str:
    """Regular French plural; -eau/-eu take x, words in s/x/z do not change."""
    if word.endswith(("s", "x", "z")):
        return word
    if word.endswith(("eau", "eu")):
        return word + "x"
    return word + "s"


IRREGULAR_VERBS: dict[str, tuple[str, ...]] = {
    "être": ("suis", "es", "est", "sommes", "êtes", "sont"),
    "avoir": ("ai", "as", "a", "avons", "avez", "ont"),
    "aller": ("vais", "vas", "va", "allons", "allez", "vont"),
    "venir": ("viens", "viens", "vient", "venons", "venez", "viennent"),
}
ER_ENDINGS = ("e", "es", "e", "ons", "ez", "ent")
ENGLISH_BE = ("am", "are", "is", "are", "are", "are")


def conjugate(infinitive: str, slot: int) -> str:
    """Present tense; slot 0-5 is je, tu, il/elle, nous, vous, ils/elles.

    -ger and -cer verbs keep their soft consonant before -ons (mangeons, lançons).
    """
    if infinitive in IRREGULAR_VERBS:
        return IRREGULAR_VERBS[infinitive][slot]
    assert infinitive.endswith("er"), infinitive
    stem = infinitive[:-2]
    if slot == 3 and stem.endswith("g"):
        stem += "e"
    elif slot == 3 and stem.endswith("c"):
        stem = stem[:-1] + "ç"
    return stem + ER_ENDINGS[slot]


# ----------------------------------------------------------------------------- lexicon


def _noun(en: str, fr: str, gender: str, tags: str, en_pl: str = "", fr_pl: str = "") -> Noun:
    return Noun(en, en_pl or english_plural(en), fr, fr_pl or french_plural(fr), gender, frozenset(tags.split()))


def _adj(
    en: str,
    fr: str,
    tags: str,
    group: str,
    forms: str = "",
    before: bool = False,
    vowel: str = "",
    not_before: str = "",
) -> Adjective:
    """Regular agreement unless ``forms`` lists the four forms: ms fs mp fp."""
    if forms:
        ms, fs, mp, fp = forms.split()
    elif fr.endswith("e"):
        ms, fs, mp, fp = fr, fr, fr + "s", fr + "s"
    elif fr.endswith("eux"):
        ms, fs, mp, fp = fr, fr[:-1] + "se", fr, fr[:-1] + "ses"
    else:
        ms, fs, mp, fp = fr, fr + "e", french_plural(fr), fr + "es"
    return Adjective(en, (ms, fs, mp, fp), before, frozenset(tags.split()), group, vowel or ms,
                     frozenset(not_before.split()))


def _verb(
    en: str,
    fr: str,
    objects: str = "",
    subjects: str = "person",
    pps: str = "",
    generic: bool = False,
) -> Verb:
    return Verb(tuple(en.split()), fr, frozenset(objects.split()), frozenset(subjects.split()), tuple(pps.split()),
                generic)


NOUNS: tuple[Noun, ...] = (
    # people
    _noun("man", "homme", "m", "person family nopossessive", en_pl="men"),  # sa femme = his wife
    _noun("woman", "femme", "f", "person family nopossessive", en_pl="women"),
    _noun("boy", "garçon", "m", "person family"),
    _noun("girl", "fille", "f", "person family"),
    _noun("child", "enfant", "m", "person", en_pl="children"),
    _noun("baby", "bébé", "m", "person"),
    _noun("friend", "ami", "m", "person family"),
    _noun("brother", "frère", "m", "person family"),
    _noun("sister", "sœur", "f", "person family"),
    _noun("mother", "mère", "f", "person family onlyone"),  # not "his mothers"
    _noun("father", "père", "m", "person family onlyone"),
    _noun("uncle", "oncle", "m", "person family"),
    _noun("aunt", "tante", "f", "person family"),
    _noun("neighbor", "voisin", "m", "person family"),
    _noun("teacher", "professeur", "m", "person"),
    _noun("doctor", "médecin", "m", "person"),
    _noun("student", "étudiant", "m", "person"),
    _noun("police officer", "policier", "m", "person"),
    # animals
    _noun("dog", "chien", "m", "animal"),
    _noun("cat", "chat", "m", "animal"),
    _noun("horse", "cheval", "m", "animal big", fr_pl="chevaux"),
    _noun("bird", "oiseau", "m", "animal"),
    _noun("cow", "vache", "f", "animal big"),
    _noun("mouse", "souris", "f", "animal", en_pl="mice"),
    _noun("rabbit", "lapin", "m", "animal"),
    _noun("duck", "canard", "m", "animal"),
    _noun("elephant", "éléphant", "m", "animal big"),
    _noun("bear", "ours", "m", "animal big"),
    _noun("bee", "abeille", "f", "animal"),
    # things
    _noun("book", "livre", "m", "thing openable"),
    _noun("pen", "stylo", "m", "thing small"),
    _noun("bag", "sac", "m", "thing container holder openable"),
    _noun("key", "clé", "f", "thing small"),
    _noun("letter", "lettre", "f", "thing"),
    _noun("box", "boîte", "f", "thing container holder openable surface"),
    _noun("ball", "ballon", "m", "thing small"),
    _noun("cup", "tasse", "f", "thing fragile container"),
    _noun("bottle", "bouteille", "f", "thing fragile container openable"),
    _noun("plate", "assiette", "f", "thing fragile"),
    _noun("umbrella", "parapluie", "m", "thing openable"),
    _noun("hat", "chapeau", "m", "thing clothing"),
    _noun("shirt", "chemise", "f", "thing clothing"),
    _noun("coat", "manteau", "m", "thing clothing"),
    _noun("phone", "téléphone", "m", "thing machine small fragile"),
    _noun("computer", "ordinateur", "m", "thing machine fragile"),
    _noun("radio", "radio", "f", "thing machine sound"),
    _noun("clock", "horloge", "f", "thing machine fragile"),
    _noun("gift", "cadeau", "m", "thing"),
    _noun("toy", "jouet", "m", "thing small"),
    # furniture and fixtures
    _noun("chair", "chaise", "f", "furniture surface under"),
    _noun("table", "table", "f", "furniture surface under"),
    _noun("bed", "lit", "m", "furniture surface under"),
    _noun("door", "porte", "f", "fixture openable landmark"),
    _noun("window", "fenêtre", "f", "fixture openable fragile landmark"),
    # vehicles; "passenger": one is "in" it (dans), "ride": one is "on" it (sur le vélo)
    _noun("car", "voiture", "f", "vehicle machine passenger under landmark"),
    _noun("bike", "vélo", "m", "vehicle machine ride"),
    _noun("bus", "bus", "m", "vehicle machine passenger landmark", en_pl="buses"),
    _noun("boat", "bateau", "m", "vehicle machine passenger landmark"),
    _noun("plane", "avion", "m", "vehicle machine passenger landmark"),
    _noun("train", "train", "m", "vehicle machine passenger landmark"),
    # food
    _noun("apple", "pomme", "f", "food small"),
    _noun("cake", "gâteau", "m", "food"),
    _noun("egg", "œuf", "m", "food"),
    _noun("orange", "orange", "f", "food small"),
    _noun("banana", "banane", "f", "food"),
    _noun("soup", "soupe", "f", "food hot"),
    _noun("sandwich", "sandwich", "m", "food"),
    _noun("strawberry", "fraise", "f", "food"),
    _noun("pear", "poire", "f", "food"),
    _noun("cookie", "biscuit", "m", "food"),
    # places; "inside": one is "in" it (dans), "work": one works "at" it (à)
    _noun("house", "maison", "f", "place inside building room dwelling openable landmark"),
    _noun("school", "école", "f", "place inside building work landmark"),
    _noun("park", "parc", "m", "place inside outdoor"),
    _noun("garden", "jardin", "m", "place inside outdoor"),
    _noun("kitchen", "cuisine", "f", "place inside room"),
    _noun("bedroom", "chambre", "f", "place inside room"),
    _noun("office", "bureau", "m", "place inside building room work"),
    _noun("hospital", "hôpital", "m", "place inside building work landmark", fr_pl="hôpitaux"),
    _noun("hotel", "hôtel", "m", "place inside building dwelling work landmark"),
    _noun("church", "église", "f", "place inside building landmark"),
    _noun("library", "bibliothèque", "f", "place inside building work openable landmark"),
    _noun("station", "gare", "f", "place inside building landmark"),
    _noun("market", "marché", "m", "place outdoor work"),
    _noun("shop", "magasin", "m", "place inside building work openable landmark"),
    _noun("restaurant", "restaurant", "m", "place inside building work openable landmark"),
    _noun("museum", "musée", "m", "place inside building openable landmark"),
    _noun("bank", "banque", "f", "place inside building work openable landmark"),
    _noun("factory", "usine", "f", "place inside building work landmark"),
    _noun("farm", "ferme", "f", "place work"),
    _noun("village", "village", "m", "place inside dwelling"),
    _noun("beach", "plage", "f", "place onplace"),
    _noun("island", "île", "f", "place onplace"),
    _noun("river", "rivière", "f", "place inside outdoor water"),
    _noun("sea", "mer", "f", "place inside outdoor water"),
    _noun("bridge", "pont", "m", "place under onplace landmark"),
    # nature
    _noun("tree", "arbre", "m", "nature under landmark"),
    _noun("flower", "fleur", "f", "nature small"),
)
NOUN = {n.en: n for n in NOUNS}

CITIES: tuple[City, ...] = tuple(
    City(en, fr)
    for en, fr in (
        ("paris", "paris"),
        ("london", "londres"),
        ("rome", "rome"),
        ("berlin", "berlin"),
        ("lisbon", "lisbonne"),
        ("brussels", "bruxelles"),
        ("geneva", "genève"),
        ("venice", "venise"),
    )
)

_ALL = "person animal thing furniture fixture vehicle food place nature"
_OBJECTS = "thing furniture fixture vehicle building nature"
ADJECTIVES: tuple[Adjective, ...] = (
    # before the noun
    # not_before: petit ami (boyfriend), grand-mère, grand homme (great man), grand frère (older
    # brother), grand oncle (great-uncle), grand ami/professeur/médecin (great friend/teacher/doctor),
    # grand magasin (department store), vieille fille, bonne femme, bonne sœur (nun), bonhomme
    _adj("small", "petit", _ALL, "size", before=True, not_before="friend"),
    _adj("big", "grand", "animal thing furniture vehicle place", "size", before=True, not_before="shop"),
    _adj("tall", "grand", "person nature building", "size", before=True,
         not_before="man mother father brother sister uncle aunt friend teacher doctor shop"),
    _adj("young", "jeune", "person animal", "age", before=True),
    _adj("old", "vieux", "person animal thing furniture vehicle building nature", "age",
         forms="vieux vieille vieux vieilles", before=True, vowel="vieil", not_before="boy girl baby child"),
    _adj("new", "nouveau", "person thing furniture vehicle building", "age",
         forms="nouveau nouvelle nouveaux nouvelles", before=True, vowel="nouvel"),
    _adj("beautiful", "beau", "person animal thing furniture vehicle place nature", "looks",
         forms="beau belle beaux belles", before=True, vowel="bel", not_before="mother father brother sister"),
    _adj("pretty", "joli", "thing place nature", "looks", before=True),
    _adj("good", "bon", "person food", "quality", forms="bon bonne bons bonnes", before=True,
         not_before="woman man sister"),
    _adj("bad", "mauvais", "person food", "quality", before=True, not_before="woman"),
    # colours
    _adj("red", "rouge", _OBJECTS, "colour"),
    _adj("blue", "bleu", _OBJECTS, "colour", forms="bleu bleue bleus bleues"),
    _adj("green", "vert", _OBJECTS, "colour"),
    _adj("yellow", "jaune", _OBJECTS, "colour"),
    _adj("black", "noir", _OBJECTS + " animal", "colour"),
    _adj("white", "blanc", _OBJECTS + " animal", "colour", forms="blanc blanche blancs blanches"),
    _adj("gray", "gris", _OBJECTS + " animal", "colour"),
    # people (some also animals)
    _adj("happy", "heureux", "person animal", "mood"),
    _adj("sad", "triste", "person animal", "mood"),
    _adj("tired", "fatigué", "person animal", "state"),
    _adj("sick", "malade", "person animal", "state"),
    _adj("busy", "occupé", "person", "state"),
    _adj("rich", "riche", "person", "wealth"),
    _adj("poor", "pauvre", "person", "wealth"),
    _adj("smart", "intelligent", "person animal", "mind"),
    _adj("strong", "fort", "person animal", "strength"),
    _adj("kind", "gentil", "person animal", "character", forms="gentil gentille gentils gentilles"),
    # things, food, places
    _adj("expensive", "cher", "thing vehicle furniture", "price", forms="cher chère chers chères"),
    _adj("heavy", "lourd", "thing furniture", "weight"),
    _adj("light", "léger", "thing", "weight", forms="léger légère légers légères"),
    _adj("empty", "vide", "container", "fill"),
    _adj("full", "plein", "container", "fill"),
    _adj("open", "ouvert", "openable", "open"),
    _adj("closed", "fermé", "openable", "open"),
    _adj("broken", "cassé", "machine fragile furniture", "state"),
    _adj("clean", "propre", "thing furniture vehicle room", "clean"),
    _adj("dirty", "sale", "thing furniture vehicle room animal", "clean"),
    _adj("fast", "rapide", "vehicle animal", "speed"),
    _adj("slow", "lent", "vehicle animal", "speed"),
    _adj("hot", "chaud", "food water", "heat"),
    _adj("cold", "froid", "food water", "heat"),
    _adj("quiet", "calme", "place person animal", "noise"),
    _adj("dangerous", "dangereux", "animal water", "danger"),
    _adj("dry", "sec", "clothing", "wet", forms="sec sèche secs sèches"),
    _adj("soft", "doux", "clothing animal", "touch", forms="doux douce doux douces"),
    _adj("fresh", "frais", "food", "taste", forms="frais fraîche frais fraîches"),
    _adj("delicious", "délicieux", "food", "taste"),
)
ADJECTIVE = {a.en: a for a in ADJECTIVES}

PROFESSIONS: tuple[Profession, ...] = (
    Profession("student", "étudiant", "étudiante", None),
    Profession("teacher", "professeur", "professeur", None),
    Profession("doctor", "médecin", "médecin", None),
    Profession("lawyer", "avocat", "avocate", None),
    Profession("nurse", "infirmier", "infirmière", None),
    Profession("singer", "chanteur", "chanteuse", None),
    Profession("dancer", "danseur", "danseuse", None),
    Profession("engineer", "ingénieur", "ingénieur", None),
    Profession("farmer", "fermier", "fermière", None),
    Profession("baker", "boulanger", "boulangère", None),
    Profession("journalist", "journaliste", "journaliste", None),
    Profession("police officer", "policier", "policière", None),
    Profession("actor", "acteur", "acteur", "m"),
    Profession("actress", "actrice", "actrice", "f"),
    Profession("waiter", "serveur", "serveur", "m"),
    Profession("waitress", "serveuse", "serveuse", "f"),
)
PROFESSION = {p.en: p for p in PROFESSIONS}

_ANY = "person animal thing furniture fixture vehicle food place nature"
_NOT_PEOPLE = "animal thing furniture fixture vehicle food place nature"
TRANSITIVE_VERBS: tuple[Verb, ...] = (
    _verb("like", "aimer", _NOT_PEOPLE, generic=True),  # aimer + a person reads as "love"
    _verb("love", "adorer", _ANY, generic=True),
    _verb("watch", "regarder", "person animal vehicle", "person animal"),
    _verb("look for", "chercher", "person animal thing", "person animal"),
    _verb("listen to", "écouter", "person animal sound"),
    _verb("find", "trouver", "thing animal", "person animal"),
    _verb("carry", "porter", "thing food"),
    _verb("wash", "laver", "thing vehicle animal furniture fixture"),
    _verb("close", "fermer", "openable"),
    _verb("cook", "cuisiner", "food"),
    _verb("visit", "visiter", "building city"),
    _verb("leave", "quitter", "place city person", "person animal"),
    _verb("help", "aider", "person animal"),
    _verb("eat", "manger", "food", "person animal"),
    _verb("forget", "oublier", "thing person"),
    _verb("bring", "apporter", "thing food"),
    _verb("break", "casser", "fragile", "person animal"),
    _verb("fix", "réparer", "machine furniture fixture"),
    _verb("meet", "rencontrer", "person"),
    _verb("throw", "lancer", "small"),
)
INTRANSITIVE_VERBS: tuple[Verb, ...] = (
    _verb("walk", "marcher", subjects="person animal", pps="in:outdoor on:onplace near:landmark with:person"),
    _verb("work", "travailler", pps="at:work in:city with:person"),
    _verb("play", "jouer", subjects="person animal", pps="in:outdoor on:onplace in:room with:person with:animal"),
    _verb("sing", "chanter", subjects="person bird", pps="in:inside with:person"),
    _verb("dance", "danser", pps="in:inside on:onplace with:person"),
    _verb("swim", "nager", subjects="person animal", pps="in:water with:person"),
    _verb("talk", "parler", pps="to:person with:person"),
    _verb("stay", "rester", subjects="person animal", pps="in:inside in:city on:onplace with:person"),
    _verb("arrive", "arriver", pps="at:building in:city"),
    _verb("travel", "voyager", pps="to:city with:person"),
    _verb("cry", "pleurer", pps="in:room"),
    _verb("eat", "manger", subjects="person animal", pps="in:inside with:person"),
    _verb("cook", "cuisiner", pps="in:room with:person"),
)
GIVING_VERBS: tuple[Verb, ...] = (
    _verb("give", "donner", "thing food"),
    _verb("show", "montrer", "thing animal"),
)

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

# ----------------------------------------------------------------------------- building a pair


@dataclass(frozen=True)
class FrTok:
    """A French token and the indices of the English tokens it translates."""

    form: str
    src: tuple[int, ...]


@dataclass(frozen=True)
class Example:
    en: str
    fr: str
    links: tuple[tuple[int, int], ...]

    @property
    def align(self) -> str:
        return " ".join(f"{i}-{j}" for i, j in self.links)


class Builder:
    """Collects English tokens in sentence order; French is assembled from returned indices."""

    def __init__(self) -> None:
        self.en: list[str] = []

    def add(self, *words: str) -> tuple[int, ...]:
        start = len(self.en)
        self.en.extend(words)
        return tuple(range(start, len(self.en)))


def english_det(np: NP, negated: bool) -> str:
    if np.det == "a":
        return "a"  # becomes "an" in finish()
    if np.det == "some":
        return "any" if negated else "some"
    return np.det


def french_det(np: NP, negated: bool, you_all: bool) -> str:
    """Article or possessive agreeing with the noun; un/une/des become de after negation."""
    g, pl = np.gender, np.plural
    if np.det == "generic":
        return "les"  # j'aime les biscuits, je n'aime pas les biscuits
    if np.det == "the":
        return "les" if pl else ("la" if g == "f" else "le")
    if np.det in ("a", "some"):
        if negated or (pl and any(a.before_noun for a in np.adjs)):
            return "de"  # pas de voiture; de petites maisons
        return "des" if pl else ("une" if g == "f" else "un")
    forms = YOUR_PLURAL if (np.det == "your" and you_all) else POSSESSIVES[np.det]
    return forms[2] if pl else forms[1 if g == "f" else 0]


def render_np(b: Builder, np: NP, negated: bool = False, you_all: bool = False) -> list[FrTok]:
    """English det-adj-adj-noun-pp; French det-[adj]-noun-[adj]-pp with agreement.

    A generic plural has no English article; its French "les" links to the noun.
    """
    det_idx = () if np.det == "generic" else b.add(english_det(np, negated))
    adjs = [(a, b.add(a.en)) for a in np.adjs]
    noun_fr = np.noun.fr_pl if np.plural else np.noun.fr
    noun_idx = b.add(*(np.noun.en_pl if np.plural else np.noun.en).split())
    pre = [(a, i) for a, i in adjs if a.before_noun]
    # only the adjective right before the noun takes bel/vieil/nouvel before a vowel
    before = [FrTok(a.form(np.gender, np.plural, k == len(pre) - 1 and starts_with_vowel_sound(noun_fr)), i)
              for k, (a, i) in enumerate(pre)]
    after = [FrTok(a.form(np.gender, np.plural), i) for a, i in adjs if not a.before_noun]
    fr = [FrTok(french_det(np, negated, you_all), det_idx or noun_idx), *before, FrTok(noun_fr, noun_idx), *after]
    if np.pp is not None:
        fr += render_pp(b, np.pp[0], np.pp[1], you_all)
    return fr


def render_target(b: Builder, target: Target, you_all: bool) -> list[FrTok]:
    if isinstance(target, City):
        return [FrTok(target.fr, b.add(target.en))]
    return render_np(b, target, you_all=you_all)


def render_pp(b: Builder, prep: str, target: Target, you_all: bool) -> list[FrTok]:
    """Preposition + target; every French preposition word links to every English one.

    "to/at/from" + a possessive place: "to my house" → "chez moi" (chez ← to + house, moi ← my;
    "from my house" → "de chez moi", de ← from, chez ← house), "to his village" → "dans son
    village", "to my office" → "à mon bureau" (POSSESSIVE_PLACE_PREPOSITIONS).
    """
    idx = b.add(*prep.split())
    if isinstance(target, City):
        fr_words = CITY_PREPOSITIONS[prep]
    else:
        fr_words = PREPOSITIONS[prep]
        if prep in ("to", "at", "from") and target.det in POSSESSIVES and "place" in target.tags:
            if target.noun.en == "house" and not target.adjs and not target.plural and target.pp is None:
                owner, house = b.add(target.det), b.add(target.noun.en)
                pronoun = "vous" if target.det == "your" and you_all else STRESS_PRONOUNS[target.det]
                lead = [FrTok("de", idx), FrTok("chez", house)] if prep == "from" else [FrTok("chez", idx + house)]
                return lead + [FrTok(pronoun, owner)]
            if prep != "from":
                fr_words = (POSSESSIVE_PLACE_PREPOSITIONS.get(target.noun.en, "à"),)
    return [FrTok(w, idx) for w in fr_words] + render_target(b, target, you_all)


def render_subject(b: Builder, subject: Subject) -> list[FrTok]:
    if isinstance(subject, Pronoun):
        return [FrTok(subject.fr, b.add(*subject.en))]
    return render_np(b, subject)


def render_verb(b: Builder, en: tuple[str, ...], fr_infinitive: str, slot: int, negated: bool) -> list[FrTok]:
    """Conjugated verb; negation is ne ... pas around it (do/does stays unaligned)."""
    fr = conjugate(fr_infinitive, slot)
    if fr_infinitive == "être":
        verb = b.add(ENGLISH_BE[slot])
        neg = b.add("not") if negated else ()
    elif negated:
        b.add("does" if slot == 2 else "do")
        neg = b.add("not")
        verb = b.add(*en)
    else:
        verb = b.add(english_third_singular(en[0]) if slot == 2 else en[0], *en[1:])
    if negated:
        return [FrTok("ne", neg), FrTok(fr, verb), FrTok("pas", neg)]
    return [FrTok(fr, verb)]


ELISION = {"le": "l'", "la": "l'", "je": "j'", "ne": "n'", "de": "d'"}
CONTRACTIONS = {("à", "le"): "au", ("à", "les"): "aux", ("de", "le"): "du", ("de", "les"): "des"}
POSSESSIVE_BEFORE_VOWEL = {"ma": "mon", "ta": "ton", "sa": "son"}


def _before_vowel(toks: Sequence[FrTok], k: int) -> bool:
    return k + 1 < len(toks) and starts_with_vowel_sound(toks[k + 1].form)


def _contract(toks: Sequence[FrTok]) -> list[FrTok]:
    """à le → au, de les → des ...; the merged token keeps the links of both ("to" + "the")."""
    out: list[FrTok] = []
    for tok in toks:
        key = (out[-1].form, tok.form) if out else None
        if key in CONTRACTIONS:
            prev = out.pop()
            tok = FrTok(CONTRACTIONS[key], tuple(sorted(set(prev.src) | set(tok.src))))
        out.append(tok)
    return out


def french_surface(tokens: Sequence[FrTok]) -> list[FrTok]:
    """Apply elision (l', j', n', d', mon amie) and contraction (au, aux, du, des).

    Articles are elided before contracting, so "de" + "l'arbre" stays "de l'arbre", not "du arbre".
    """
    toks = [replace(t, form="l'") if t.form in ("le", "la") and _before_vowel(tokens, k) else t
            for k, t in enumerate(tokens)]
    toks = _contract(toks)
    out = []
    for k, tok in enumerate(toks):
        if _before_vowel(toks, k) and tok.form in ELISION:
            tok = replace(tok, form=ELISION[tok.form])
        elif _before_vowel(toks, k) and tok.form in POSSESSIVE_BEFORE_VOWEL:
            tok = replace(tok, form=POSSESSIVE_BEFORE_VOWEL[tok.form])
        out.append(tok)
    return out


def english_surface(words: Sequence[str]) -> list[str]:
    """a → an before a vowel letter (the vocabulary has no 'a university' or 'an hour')."""
    return ["an" if w == "a" and k + 1 < len(words) and words[k + 1][0] in "aeiou" else w for k, w in enumerate(words)]


UNALIGNED_OK = frozenset({"do", "does", "a", "an"})


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
    links = tuple(sorted({(i, j) for j, t in enumerate(fr) for i in t.src}))
    aligned = {i for i, _ in links}
    # The alignment indexes these token lists, so they must be exactly what the project tokeniser sees.
    require(tokenize(en_text) == en, f"tokeniser disagrees: {en_text!r} -> {tokenize(en_text)}")
    require(tokenize(fr_text) == [t.form for t in fr], f"tokeniser disagrees: {fr_text!r} -> {tokenize(fr_text)}")
    require(all(t.src for t in fr), f"unaligned French token: {en_text!r} / {fr_text!r}")
    require(all(k in aligned or w in UNALIGNED_OK for k, w in enumerate(en)), f"unaligned English word: {en_text!r}")
    return Example(en_text, fr_text, links)


def require(condition: bool, message: str) -> None:
    """An assert that survives ``python -O``: a broken pair must never be written."""
    if not condition:
        raise AssertionError(message)


# ----------------------------------------------------------------------------- sentence builders
# Each build_* takes fully chosen parts, so the same code serves sampling and the fixed examples.


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


# ----------------------------------------------------------------------------- sampling


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


# The second of two adjectives on one noun: one that follows the French noun and comes last in
# English too (the small red car → la petite voiture rouge, the old broken clock → la vieille
# horloge cassée). The first is always one placed before the French noun.
SECOND_ADJECTIVES = frozenset("red blue green yellow black white gray empty full open closed broken clean dirty".split())


def sample_adjective_pair(rng: random.Random, noun: Noun) -> Optional[tuple[Adjective, Adjective]]:
    """A before-noun adjective and an after-noun one, both fitting the noun, or None."""
    first = [a for a in ADJECTIVES if a.before_noun and has_tag(a.tags, noun.tags) and noun.en not in a.not_before]
    second = [a for a in ADJECTIVES if a.en in SECOND_ADJECTIVES and has_tag(a.tags, noun.tags)]
    if not first or not second:
        return None
    return rng.choice(first), rng.choice(second)


DETS_SUBJECT = (("the", 6), ("poss", 4))
DETS_OBJECT = (("the", 4), ("indef", 3), ("poss", 3))
DETS_PLACE = (("the", 8), ("poss", 2))
DETS_HAVE = (("indef", 6), ("the", 2), ("poss", 1))
DETS_LIKING = (("the", 4), ("generic", 4), ("poss", 3))  # no "i like a cookie": j'aime les biscuits
TWO_ADJECTIVES_P = 0.3  # of noun phrases that have an adjective


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


def sample_be_adjective(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, _ANY, pronoun_p=0.3)
    avoid = [a.group for a in subject.adjs] if isinstance(subject, NP) else []
    adj = sample_adjective(rng, subject.tags, avoid)
    return build_be_adjective(subject, adj, sample_negation(rng)) if adj else None


def sample_be_profession(rng: random.Random) -> Optional[Example]:
    subject = sample_subject(rng, "family", pronoun_p=0.6)
    return build_be_profession(subject, rng.choice(PROFESSIONS), sample_negation(rng))


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


HOME_P = 0.12  # "to my house" → "chez moi", often enough to learn its seven pronouns


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


EXTRA_PPS = (("in", "outdoor"), ("in", "room"), ("on", "onplace"), ("near", "landmark"), ("with", "person"))


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


SECOND_PP_P = 0.5  # an intransitive verb's place phrase is followed by "with ..."


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


# "the man with the dog is tall", "the cat under the table is black": a subject with a phrase after it
SUBJECT_PPS: dict[str, tuple[tuple[str, str], ...]] = {
    "person": (("in", "inside"), ("on", "onplace"), ("near", "landmark"), ("with", "person"), ("with", "animal"),
               ("behind", "landmark"), ("in front of", "landmark")),
    "animal": LOCATIONS["animal"],
    "thing": LOCATIONS["thing"],
    "vehicle": (("in", "outdoor"), ("near", "landmark"), ("behind", "landmark"), ("in front of", "landmark")),
}


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


# ----------------------------------------------------------------------------- corpus


def generate(seed: int = DEFAULT_SEED) -> dict[str, list[Example]]:
    """Unique pairs (no English or French sentence twice), split at random; fixed pairs in train."""
    rng = random.Random(seed)
    fixed = fixed_examples()
    seen_en = {e.en for e in fixed}
    seen_fr = {e.fr for e in fixed}
    total = sum(size for _, size in SPLIT_SIZES) - len(fixed)
    pool: list[Example] = []
    while len(pool) < total:
        example = pick(rng, TEMPLATES)(rng)
        if example is None or example.en in seen_en or example.fr in seen_fr:
            continue
        seen_en.add(example.en)
        seen_fr.add(example.fr)
        pool.append(example)
    rng.shuffle(pool)
    sizes = dict(SPLIT_SIZES)
    test, val = pool[: sizes["test"]], pool[sizes["test"] : sizes["test"] + sizes["val"]]
    train = pool[sizes["test"] + sizes["val"] :] + fixed
    rng.shuffle(train)
    return {"train": train, "val": val, "test": test}


def write_split(out: Path, name: str, examples: Sequence[Example]) -> None:
    with open(out / f"{name}.tsv", "w", encoding="utf-8", newline="\n") as tsv:
        tsv.writelines(f"{e.en}\t{e.fr}\n" for e in examples)
    with open(out / f"{name}.align", "w", encoding="utf-8", newline="\n") as align:
        align.writelines(f"{e.align}\n" for e in examples)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, examples in generate(args.seed).items():
        write_split(args.out, name, examples)
        print(f"{name}: {len(examples)} pairs -> {args.out / (name + '.tsv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
