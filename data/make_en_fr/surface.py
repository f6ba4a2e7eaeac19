"""Surface forms: French elision and contraction, English "a" → "an"; links survive every merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .alignment import FrTok
from .morphology import starts_with_vowel_sound

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
