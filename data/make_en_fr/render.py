"""Rendering chosen parts into English words (on a ``Builder``) and linked French tokens, in French order."""

from __future__ import annotations

from .alignment import Builder, FrTok
from .grammar import (
    CITY_PREPOSITIONS,
    NP,
    POSSESSIVE_PLACE_PREPOSITIONS,
    POSSESSIVES,
    PREPOSITIONS,
    STRESS_PRONOUNS,
    YOUR_PLURAL,
    Pronoun,
    Subject,
    Target,
)
from .morphology import ENGLISH_BE, conjugate, english_third_singular, starts_with_vowel_sound
from .vocabulary import City


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
