"""The committed English→French corpus is what the generator writes, and its alignments are sound."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from seq2seq_cli.data import tokenize

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "data" / "make_en_fr.py"
CORPUS = REPO / "data" / "en-fr"
SPLITS = ("train", "val", "test")
FILES = [f"{split}.{ext}" for split in SPLITS for ext in ("tsv", "align")]


def read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw, f"{path.name}: expected \\n line ends"
    return raw.decode("utf-8").split("\n")[:-1]


def parse_links(line: str) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in (link.split("-") for link in line.split())]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_en_fr", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[list[str], list[str]]]:
    return {split: (read_lines(CORPUS / f"{split}.tsv"), read_lines(CORPUS / f"{split}.align")) for split in SPLITS}


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (CORPUS / name).read_bytes(), f"{name} differs from a fresh run"


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
    g = generator
    NP, N, A, P = g.NP, g.NOUN, g.ADJECTIVE, g.PRONOUNS
    cases = [
        (g.build_be_profession(P["they"], g.PROFESSION["actress"], False), "elles sont actrices", "0-0 1-1 2-2"),
        (g.build_be_profession(P["she"], g.PROFESSION["lawyer"], True),
         "elle n'est pas avocate", "0-0 1-2 2-1 2-3 4-4"),
        (g.build_be_adjective(NP(N["man"], "the", False, A["old"]), A["tired"], False),
         "le vieil homme est fatigué", "0-0 1-1 2-2 3-3 4-4"),
        (g.build_clause(P["you all"], ("wash",), "laver", False, NP(N["school"], "your", True, A["small"])),
         "vous lavez vos petites écoles", "0-0 1-0 2-1 3-2 4-3 5-4"),
        (g.build_clause(P["she"], ("eat",), "manger", True, NP(N["apple"], "some", True, A["good"])),
         "elle ne mange pas de bonnes pommes", "0-0 2-1 2-3 3-2 4-4 5-5 6-6"),
        (g.build_clause(P["we"], ("eat",), "manger", False, pps=[("near", NP(N["hospital"], "the", False))]),
         "nous mangeons près de l'hôpital", "0-0 1-1 2-2 2-3 3-4 4-5"),
        (g.build_clause(P["i"], ("live",), "habiter", False, pps=[("in", g.CITIES[1])]),
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
