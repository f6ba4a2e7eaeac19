"""The committed English→French corpus is what the generator writes, and its alignments are sound."""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from seq2seq_cli.data.text import tokenize

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "data" / "make_en_fr"
CORPUS = REPO / "data" / "en-fr"
SPLITS = ("train", "val", "test")
FILES = [f"{split}.{ext}" for split in SPLITS for ext in ("tsv", "align")]
# The committed corpus, pinned: a change to it fails here even when the generator and the files change together.
SHA256 = {
    "train.tsv": "f162405a5edc96fb2f89804b81b81afe6e655f14189348f75c338f3cb9e7ab76",
    "train.align": "a3cdb6711fc5d017cea5374e6356106d6c9d3f460f2ca005d3a3a70028e1e689",
    "val.tsv": "5a5494803ba231a90a2b5eba9d4ece67686e14215888fee053f84b9ffcdd0fdc",
    "val.align": "8abc84f43c26fb7a640cf32e6af0302c1d407f0f0ba9f439bc345f4460e0848f",
    "test.tsv": "cbc5a76a15b02c5eb653543328bfd83c7b1485bf6c4c4c698df204bf9076e219",
    "test.align": "8cf845f4c4e7d5b598aebd836805c22e39f0074f05fc6737e8e738abb811d657",
}


def read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw, f"{path.name}: expected \\n line ends"
    return raw.decode("utf-8").split("\n")[:-1]


def parse_links(line: str) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in (link.split("-") for link in line.split())]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """The generator package, loaded from its folder (data/ is not on sys.path), with its modules as attributes."""
    package = sys.modules.get("make_en_fr")
    if package is None:
        spec = importlib.util.spec_from_file_location(
            "make_en_fr", PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = package  # its modules import each other through the package
        spec.loader.exec_module(package)
    for name in ("vocabulary", "grammar", "sampling", "sentences"):
        importlib.import_module(f"make_en_fr.{name}")  # sets package.<name>
    return package


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[list[str], list[str]]]:
    return {split: (read_lines(CORPUS / f"{split}.tsv"), read_lines(CORPUS / f"{split}.align")) for split in SPLITS}


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    """``python data/make_en_fr --out DIR``, run from elsewhere: the lexicon is found next to the package."""
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(PACKAGE), "--out", str(out)], check=True, capture_output=True, cwd=tmp_path)
    for name in FILES:
        assert (out / name).read_bytes() == (CORPUS / name).read_bytes(), f"{name} differs from a fresh run"


def test_generator_runs_as_a_module_from_data() -> None:
    """``python -m make_en_fr`` from data/ is the other way in (--help: it imports everything, writes nothing)."""
    run = subprocess.run([sys.executable, "-m", "make_en_fr", "--help"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "--out" in run.stdout and "--seed" in run.stdout


def test_committed_files_match_their_checksums() -> None:
    for name in FILES:
        assert hashlib.sha256((CORPUS / name).read_bytes()).hexdigest() == SHA256[name], f"{name} changed"


def test_generator_pieces_fit_on_a_screen() -> None:
    """No function over 50 lines, class over 200 or module over 400 (decorators not counted)."""
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            limit = 200 if isinstance(node, ast.ClassDef) else 50
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.end_lineno - node.lineno + 1 > limit:
                    too_long.append(f"{path.name}:{node.lineno} {node.name}")
    assert not too_long


def test_split_sizes_and_line_counts(corpus: dict[str, tuple[list[str], list[str]]]) -> None:
    sizes = {split: len(pairs) for split, (pairs, _) in corpus.items()}
    assert sizes == {"train": 20_000, "val": 1_000, "test": 1_000}
    for split, (pairs, aligns) in corpus.items():
        assert len(pairs) == len(aligns), split


def test_alignments_index_tokens(corpus: dict[str, tuple[list[str], list[str]]]) -> None:
    for split, (pairs, aligns) in corpus.items():
        for number, (pair, align) in enumerate(zip(pairs, aligns), 1):
            english, french = pair.split("\t")
            n_en, n_fr = len(tokenize(english)), len(tokenize(french))
            links = parse_links(align)
            assert links and links == sorted(set(links)), f"{split}:{number}: links not sorted/unique"
            assert all(0 <= i < n_en and 0 <= j < n_fr for i, j in links), f"{split}:{number}: {pair!r} {align!r}"
            assert {j for _, j in links} == set(range(n_fr)), f"{split}:{number}: unaligned French token"


def test_text_is_clean(corpus: dict[str, tuple[list[str], list[str]]]) -> None:
    for _split, (pairs, _) in corpus.items():
        for pair in pairs:
            english, french = pair.split("\t")
            for side in (english, french):
                assert side == side.lower() and side == side.strip() and not side.endswith((".", "!", "?"))
                assert 3 <= len(tokenize(side)) <= 12, pair


def test_splits_are_disjoint(corpus: dict[str, tuple[list[str], list[str]]]) -> None:
    sources = {split: [pair.split("\t")[0] for pair in pairs] for split, (pairs, _) in corpus.items()}
    everything = [s for split in SPLITS for s in sources[split]]
    assert len(everything) == len(set(everything)), "a source sentence appears twice"
    train = set(sources["train"])
    assert not train & set(sources["test"]) and not train & set(sources["val"])


@pytest.mark.parametrize(
    ("english", "french", "align"),
    [
        ("i am a student", "je suis étudiant", "0-0 1-1 3-2"),
        ("the red car is small", "la voiture rouge est petite", "0-0 1-2 2-1 3-3 4-4"),
        ("he is a teacher", "il est professeur", "0-0 1-1 3-2"),
        ("she is a doctor", "elle est médecin", "0-0 1-1 3-2"),
        ("i do not have a car", "je n'ai pas de voiture", "0-0 2-1 2-3 3-2 4-4 5-5"),
        ("we go to the park", "nous allons au parc", "0-0 1-1 2-2 3-2 4-3"),
        ("he talks to my friend", "il parle à mon ami", "0-0 1-1 2-2 3-3 4-4"),
    ],
)
def test_fixed_pairs_are_in_train(
    corpus: dict[str, tuple[list[str], list[str]]], english: str, french: str, align: str
) -> None:
    pairs, aligns = corpus["train"]
    line = pairs.index(f"{english}\t{french}")
    assert aligns[line] == align


def test_french_grammar_examples(generator: ModuleType) -> None:
    g, lex = generator.sentences, generator.vocabulary  # the builders; the words
    NP, N, A, P = generator.grammar.NP, lex.NOUN, lex.ADJECTIVE, generator.grammar.PRONOUNS
    cases = [
        (g.build_be_profession(P["they"], lex.PROFESSION["actress"], False), "elles sont actrices", "0-0 1-1 2-2"),
        (g.build_be_profession(P["she"], lex.PROFESSION["lawyer"], True),
         "elle n'est pas avocate", "0-0 1-2 2-1 2-3 4-4"),
        (g.build_be_adjective(NP(N["man"], "the", False, A["old"]), A["tired"], False),
         "le vieil homme est fatigué", "0-0 1-1 2-2 3-3 4-4"),
        (g.build_clause(P["you all"], ("wash",), "laver", False, NP(N["school"], "your", True, A["small"])),
         "vous lavez vos petites écoles", "0-0 1-0 2-1 3-2 4-3 5-4"),
        (g.build_clause(P["she"], ("eat",), "manger", True, NP(N["apple"], "some", True, A["good"])),
         "elle ne mange pas de bonnes pommes", "0-0 2-1 2-3 3-2 4-4 5-5 6-6"),
        (g.build_clause(P["we"], ("eat",), "manger", False, pps=[("near", NP(N["hospital"], "the", False))]),
         "nous mangeons près de l'hôpital", "0-0 1-1 2-2 2-3 3-4 4-5"),
        (g.build_clause(P["i"], ("live",), "habiter", False, pps=[("in", lex.CITIES[1])]),
         "j'habite à londres", "0-0 1-1 2-2 3-3"),
        (g.build_clause(P["he"], ("come",), "venir", False, pps=[("from", NP(N["market"], "the", True))]),
         "il vient des marchés", "0-0 1-1 2-2 3-2 4-3"),
        (g.build_clause(P["i"], ("give",), "donner", False, NP(N["orange"], "a", False),
                        [("to", NP(N["friend"], "my", False))]),
         "je donne une orange à mon ami", "0-0 1-1 2-2 3-3 4-4 5-5 6-6"),
    ]
    for example, french, align in cases:
        assert (example.fr, example.align) == (french, align), example.en
    assert g.build_clause(P["i"], ("give",), "donner", False, NP(N["orange"], "a", False)).en == "i give an orange"


# ----------------------------------------------------------------------------- idioms the rules keep out

PERSON_NOUNS_FR = {
    "homme", "hommes", "femme", "femmes", "garçon", "garçons", "fille", "filles", "enfant", "enfants", "bébé", "bébés",
    "ami", "amis", "frère", "frères", "sœur", "sœurs", "mère", "mères", "père", "pères", "oncle", "oncles", "tante",
    "tantes", "voisin", "voisins", "professeur", "professeurs", "médecin", "médecins", "étudiant", "étudiants",
    "policier", "policiers",
}
AIMER = {"aime", "aimes", "aimons", "aimez", "aiment"}
ADORER = {"adore", "adores", "adorons", "adorez", "adorent"}
POSSESSIVES_FR = "mon ma ton ta son sa notre votre leur mes tes ses nos vos leurs".split()


def all_pairs(corpus: dict[str, tuple[list[str], list[str]]]) -> list[tuple[str, str, str]]:
    """(english, french, alignment) over every split."""
    return [(*pair.split("\t"), align) for pairs, aligns in corpus.values() for pair, align in zip(pairs, aligns)]


@pytest.mark.parametrize(
    ("idiom", "pattern"),
    [
        ("grand frère (older brother), grand oncle (great-uncle), grand ami (great friend)...",
         r"\bgrande?s? (frères?|sœurs?|oncles?|tantes?|amis?|professeurs?|médecins?|magasins?)\b"),
        ("bonne sœur (a nun), bonhomme, bonne femme", r"\b(bonnes? (sœurs?|femmes?)|bons? hommes?)\b"),
        ("dans le vélo (one is on a bike)", rf"\bdans (le|les|{'|'.join(POSSESSIVES_FR)}) (\w+ )?vélos?\b"),
        ("à ma maison / à son village / à sa chambre (chez moi, dans son village...)",
         rf"\bà ({'|'.join(POSSESSIVES_FR)}) (\w+ )?(maison|village|jardin|cuisine|chambre|parc|plage|île"
         r"|rivière|mer|pont)\b"),
        ("petit ami (boyfriend), vieille fille", r"\b(petits? amis?|vieilles? filles?)\b"),
    ],
)
def test_no_meaning_changing_idioms(corpus: dict[str, tuple[list[str], list[str]]], idiom: str, pattern: str) -> None:
    found = [f"{en} → {fr}" for en, fr, _ in all_pairs(corpus) if re.search(pattern, fr)]
    assert not found, f"{idiom}: {found[:5]}"


def test_to_and_from_my_house_is_chez_moi(corpus: dict[str, tuple[list[str], list[str]]]) -> None:
    """"to/at/from my house" is "chez moi"/"de chez moi" ("to my small house": "dans ma petite maison")."""
    chez = 0
    for en, fr, align in all_pairs(corpus):
        assert not re.search(r"\b(viens|vient|venons|venez|viennent) (pas )?de (ma|ta|sa|notre|votre|leur) maison\b",
                             fr), en
        words, tokens = en.split(), tokenize(fr)
        if "chez" in tokens:
            house, at = words.index("house"), tokens.index("chez")
            assert words[house - 1] in ("my", "your", "his", "her", "our", "their"), en
            assert (house, at) in parse_links(align) and (house - 1, at + 1) in parse_links(align), f"{en}: {align}"
            chez += 1
    assert chez >= 200


@pytest.fixture(scope="module")
def french_nouns(generator: ModuleType) -> set[str]:
    return {form for noun in generator.vocabulary.NOUNS for form in (noun.fr, noun.fr_pl)}


def object_after_verb(tokens: list[str], verbs: set[str], nouns: set[str]) -> tuple[int, int]:
    """Where the object of the first verb of the set starts (after "pas") and where its noun is."""
    k = next(k for k, t in enumerate(tokens) if t in verbs)
    start = k + 1 + (tokens[k + 1 : k + 2] == ["pas"])
    return start, next(m for m in range(start, len(tokens)) if tokens[m] in nouns)


def test_like_never_takes_a_person(corpus, french_nouns: set[str], generator: ModuleType) -> None:
    """aimer + a person reads as "love" ("elle aime son médecin"), so "like" takes no person."""
    liked = 0
    for en, fr, _ in all_pairs(corpus):
        tokens = tokenize(fr)
        if AIMER & set(tokens):
            _, noun = object_after_verb(tokens, AIMER, french_nouns)
            assert tokens[noun] not in PERSON_NOUNS_FR, f"{en} → {fr}"
            liked += 1
    assert liked >= 300
    like = next(v for v in generator.vocabulary.TRANSITIVE_VERBS if v.en == ("like",))
    liked_nouns = generator.sampling.nouns_with(like.objects)
    assert liked_nouns and not any("person" in n.tags for n in liked_nouns)


def test_general_likes_take_the_definite_article(corpus, french_nouns: set[str]) -> None:
    """"i like cookies" → "j'aime les biscuits"; never "j'aime un biscuit" or "je n'aime pas de biscuits"."""
    generic = 0
    for en, fr, align in all_pairs(corpus):
        tokens = tokenize(fr)
        if not (AIMER | ADORER) & set(tokens):
            continue
        det, noun = object_after_verb(tokens, AIMER | ADORER, french_nouns)
        assert det < noun and tokens[det] not in ("un", "une", "des", "de", "d'"), f"{en} → {fr}"
        words, links = en.split(), parse_links(align)
        verb = next(k for k, w in enumerate(words) if w in ("like", "likes", "love", "loves"))
        if words[verb + 1] not in ("the", "my", "your", "his", "her", "our", "their"):  # a bare plural
            assert tokens[det] == "les", f"{en} → {fr}"
            noun_en = {i for i, j in links if j == noun}
            assert {i for i, j in links if j == det} == noun_en, f"{en}: les ← the noun ({align})"
            generic += 1
    assert generic >= 150


# ----------------------------------------------------------------------------- structures that widen attention


def test_two_adjectives_on_one_noun(corpus, generator: ModuleType) -> None:
    """"the small red car" → "la petite voiture rouge": the first adjective before the noun, the second after."""
    lex = generator.vocabulary
    before = {a.en for a in lex.ADJECTIVES if a.before_noun}
    nouns_en = {n.en: n for n in lex.NOUNS} | {n.en_pl: n for n in lex.NOUNS}
    count = 0
    for en, fr, align in all_pairs(corpus):
        words, tokens, links = en.split(), tokenize(fr), parse_links(align)
        for k in range(len(words) - 2):
            if words[k] in before and words[k + 1] in generator.sampling.SECOND_ADJECTIVES and words[k + 2] in nouns_en:
                fr_of = [[j for i, j in links if i == k + d] for d in range(3)]
                assert len(fr_of[0]) == len(fr_of[1]) == 1, en
                adj1, adj2, noun = fr_of[0][0], fr_of[1][0], fr_of[2][-1]  # a generic "les" also links to the noun
                assert adj1 + 1 == noun and noun + 1 == adj2, f"{en} → {fr}: {align}"
                assert tokens[noun] in (nouns_en[words[k + 2]].fr, nouns_en[words[k + 2]].fr_pl), en
                count += 1
    assert count >= 1000


PREPS_EN = {"in", "on", "under", "near", "with", "behind", "front"}


def test_subjects_with_a_phrase_after_them(corpus) -> None:
    """"the man with the dog is tall": every English word before "is" links to French before "est"."""
    count = 0
    for en, fr, align in all_pairs(corpus):
        words, links = en.split(), parse_links(align)
        if words[0] in ("i", "you", "he", "she", "we", "they"):
            continue
        verb = next((k for k, w in enumerate(words) if w in ("is", "are")), None)
        if verb is None or not PREPS_EN & set(words[:verb]):
            continue
        fr_verb = [j for i, j in links if i == verb]
        assert len(fr_verb) == 1 and tokenize(fr)[fr_verb[0]] in ("est", "sont"), en
        for i in range(verb):
            assert [j for ii, j in links if ii == i and j > fr_verb[0]] == [], f"{en} → {fr}: {align}"
            assert words[i] in ("a", "an") or any(ii == i for ii, _ in links), en
        count += 1
    assert count >= 1200


def test_two_prepositional_phrases_after_a_verb(corpus) -> None:
    """"we walk on the beach with the children": both phrases kept, "with" ← "avec" after the place."""
    count = 0
    for en, fr, align in all_pairs(corpus):
        words, tokens, links = en.split(), tokenize(fr), parse_links(align)
        if "with" not in words or {"is", "are", "am"} & set(words):
            continue
        w = words.index("with")
        place = [k for k in range(w) if words[k] in PREPS_EN | {"at", "to", "from"} and k > 0]
        if not place:
            continue
        avec = [j for i, j in links if i == w]
        assert [tokens[j] for j in avec] == ["avec"], en
        assert all(j < avec[0] for i, j in links if i < w) and all(j > avec[0] for i, j in links if i > w), en
        count += 1
    assert count >= 900


def test_new_structures_build_with_exact_alignments(generator: ModuleType) -> None:
    g, lex = generator.sentences, generator.vocabulary  # the builders; the words
    NP, N, A, P = generator.grammar.NP, lex.NOUN, lex.ADJECTIVE, generator.grammar.PRONOUNS
    cases = [
        (g.build_be_adjective(NP(N["car"], "some", True, A["small"], A["red"]), A["broken"], False),
         "some small red cars are broken", "de petites voitures rouges sont cassées", "0-0 1-1 2-3 3-2 4-4 5-5"),
        (g.build_be_adjective(NP(N["hotel"], "the", False, A["old"], A["white"]), A["quiet"], False),
         "the old white hotel is quiet", "le vieil hôtel blanc est calme", "0-0 1-1 2-3 3-2 4-4 5-5"),
        (g.build_be_adjective(NP(N["man"], "the", False, pp=("with", NP(N["dog"], "the", False))), A["tall"], False),
         "the man with the dog is tall", "l'homme avec le chien est grand", "0-0 1-1 2-2 3-3 4-4 5-5 6-6"),
        (g.build_be_adjective(NP(N["cat"], "the", False, pp=("under", NP(N["table"], "the", False))), A["black"], True),
         "the cat under the table is not black", "le chat sous la table n'est pas noir",
         "0-0 1-1 2-2 3-3 4-4 5-6 6-5 6-7 7-8"),
        (g.build_clause(P["we"], ("walk",), "marcher", False,
                        pps=[("on", NP(N["beach"], "the", False)), ("with", NP(N["child"], "the", True))]),
         "we walk on the beach with the children", "nous marchons sur la plage avec les enfants",
         "0-0 1-1 2-2 3-3 4-4 5-5 6-6 7-7"),
        # the fixed idioms
        (g.build_clause(P["i"], ("go",), "aller", False, pps=[("to", NP(N["house"], "my", False))]),
         "i go to my house", "je vais chez moi", "0-0 1-1 2-2 3-3 4-2"),
        (g.build_clause(P["you all"], ("come",), "venir", True, pps=[("from", NP(N["house"], "your", False))]),
         "you all do not come from your house", "vous ne venez pas de chez vous", "0-0 1-0 3-1 3-3 4-2 5-4 6-6 7-5"),
        (g.build_clause(P["he"], ("go",), "aller", False, pps=[("to", NP(N["village"], "his", False))]),
         "he goes to his village", "il va dans son village", "0-0 1-1 2-2 3-3 4-4"),
        (g.build_clause(P["she"], ("go",), "aller", False, pps=[("to", NP(N["office"], "her", False))]),
         "she goes to her office", "elle va à son bureau", "0-0 1-1 2-2 3-3 4-4"),
        (g.build_clause(P["we"], ("love",), "adorer", True, NP(N["cookie"], "generic", True)),
         "we do not love cookies", "nous n'adorons pas les biscuits", "0-0 2-1 2-3 3-2 4-4 4-5"),
        (g.build_be_at(P["he"], "on", NP(N["bike"], "the", False), False),
         "he is on the bike", "il est sur le vélo", "0-0 1-1 2-2 3-3 4-4"),
    ]
    for example, english, french, align in cases:
        assert (example.en, example.fr, example.align) == (english, french, align)


def test_adjectives_skip_the_nouns_they_would_make_an_idiom_with(generator: ModuleType) -> None:
    A = generator.vocabulary.ADJECTIVE
    for noun in ("brother", "sister", "uncle", "aunt", "man", "friend", "teacher", "doctor"):
        assert noun in A["tall"].not_before
    for noun in ("sister", "man", "woman"):
        assert noun in A["good"].not_before
    assert "shop" in A["big"].not_before
