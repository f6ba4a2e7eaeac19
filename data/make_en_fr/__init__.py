"""Deterministic English→French synthetic corpus with gold word alignments.

Why synthetic: a small, grammatical, fully known corpus lets a seq2seq model with attention be
trained in minutes, and its attention maps can be scored against alignments that are correct by
construction rather than guessed by an aligner.

What it writes (under ``--out``, default ``data/en-fr``, the folder next to this package):

* ``train.tsv``, ``val.tsv``, ``test.tsv`` — ``english<TAB>french``, one pair a line, UTF-8,
  ``\\n`` line ends, lowercase, no final punctuation.
* ``train.align``, ``val.align``, ``test.align`` — the gold alignment of the pair on the same
  line, in Pharaoh format: space-separated ``i-j`` links, ``i`` a source (English) token index
  and ``j`` a target (French) token index, both 0-based over ``seq2seq_cli.data.text.tokenize``
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

How to run it, from the repository root, with nothing installed (it puts the repository root on
``sys.path`` for ``seq2seq_cli.data.text.tokenize``)::

    python data/make_en_fr [--out data/en-fr] [--seed 1789]

or ``python -m make_en_fr`` from ``data/``. The pieces:

* ``lexicon/*.tsv`` — the words as data: nouns, adjectives, verbs, professions, cities (each file
  says what its columns mean). Their row order is part of the corpus: the samplers draw by position.
* ``vocabulary.py`` — the word types and the loader for those files.
* ``morphology.py`` — plurals, elision's vowel test, conjugation.
* ``grammar.py`` — function words (pronouns, possessives, prepositions) and the noun phrase.
* ``alignment.py`` — French tokens that carry their English links, and the checks on a pair.
* ``render.py``, ``surface.py`` — words to French tokens; elision and contraction.
* ``sentences.py`` — one builder per template, from fully chosen parts.
* ``sampling.py``, ``templates.py`` — random parts, and the weighted sentence templates.
* ``writer.py`` — split sizes, seeding, the files, and the ``--out``/``--seed`` command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Every pair is checked against the project tokeniser (seq2seq_cli.data.text.tokenize), so the repository
# root goes on sys.path: the generator runs from a checkout without installing anything.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
