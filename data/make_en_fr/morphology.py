"""Word forms: English and French plurals, the vowel test for elision, present-tense conjugation."""

from __future__ import annotations

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
