"""The formats corpora come in: TSV, Moses-style parallel files and JSON Lines, plain or gzip'd,
read to the same pairs, trained from through the CLI, and each mistake one line naming file:line or key."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
import yaml

from seq2seq_cli import runs
from seq2seq_cli.config import ParallelFiles, load_config, load_run_config, save_config, unused_settings
from seq2seq_cli.data.corpora import Limits, Pair, read_pairs, read_parallel
from seq2seq_cli.data.prepare import check_fingerprints, data_fingerprints, read_training_pairs
from seq2seq_cli.errors import ConfigError, DataError
from tests.conftest import ROOT, SEED_PAIRS, run_cli
from tests.test_bad_input import assert_one_line_error

BUNDLED = [line.split("\t") for line in (ROOT / "data/en-fr/train.tsv").read_text(encoding="utf-8").splitlines()[:300]]
QUICK = ["model.embed_dim=16", "model.hidden_size=16", "train.epochs=3"]  # a few seconds on a laptop CPU


def write(path: Path, lines: list[str], bom: bool = False, crlf: bool = False) -> Path:
    """``lines`` as a file, gzip'd when its name ends in .gz; optionally with a BOM and CRLF ends."""
    data = ("\ufeff" * bom + "".join(line + "\r\n" * crlf + "\n" * (not crlf) for line in lines)).encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def jsonl_lines(pairs, source_lang: str = "en", target_lang: str = "fr") -> list[str]:
    return [json.dumps({"translation": {source_lang: s, "de": "-", target_lang: t}}, ensure_ascii=False) if s or t else ""
            for s, t in pairs]


def write_corpus(folder: Path, pairs, gz: str = "", **style) -> dict[str, Path]:
    """The same pairs as TSV, as Moses files and as JSON Lines (blank pairs as blank lines in each)."""
    return {
        "tsv": write(folder / f"pairs.tsv{gz}", [f"{s}\t{t}" if s or t else "" for s, t in pairs], **style),
        "en": write(folder / f"pairs.en{gz}", [s for s, _ in pairs], **style),
        "fr": write(folder / f"pairs.fr{gz}", [t for _, t in pairs], **style),
        "jsonl": write(folder / f"pairs.jsonl{gz}", jsonl_lines(pairs), **style),
    }


def config_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": data}), encoding="utf-8")
    return path


@pytest.mark.parametrize("gz", ["", ".gz"])
@pytest.mark.parametrize("style", [{}, {"bom": True, "crlf": True}])
def test_every_format_reads_to_exactly_the_pairs_of_the_tsv(tmp_path, gz, style):
    pairs = [*BUNDLED[:100], ("", ""), *BUNDLED[100:]]  # a blank line in each: skipped alike, line numbers kept
    files = write_corpus(tmp_path, pairs, gz, **style)
    expected = read_pairs(files["tsv"])
    assert len(expected) == 300 and expected[100] == Pair(*BUNDLED[100], 102)
    assert read_parallel(files["en"], files["fr"]) == expected
    assert read_pairs(files["jsonl"], ("en", "fr")) == expected
    assert read_pairs(files["jsonl"], ("fr", "en")) == [Pair(p.target, p.source, p.line) for p in expected]


def test_a_config_reads_every_format_the_same(tmp_path):
    files = write_corpus(tmp_path, BUNDLED[:50], ".gz")
    moses = {"source": str(files["en"]), "target": str(files["fr"])}
    expected = read_training_pairs(load_config(config_file(tmp_path, {"train": str(files["tsv"]), "val": str(files["tsv"])})))
    for train in (moses, str(files["jsonl"])):
        config = load_config(config_file(tmp_path, {"train": train, "val": moses, "source_lang": "en", "target_lang": "fr"}))
        assert read_training_pairs(config) == expected


def test_parallel_files_are_a_typed_section_that_round_trips_and_takes_set(tmp_path):
    path = config_file(tmp_path, {"train": {"source": "a.en", "target": "a.fr"}})
    config = load_config(path)
    assert config.data.train == ParallelFiles("a.en", "a.fr") and str(config.data.train) == "a.en + a.fr"
    save_config(config, tmp_path / "saved.yaml")
    assert yaml.safe_load((tmp_path / "saved.yaml").read_text())["data"]["train"] == {"source": "a.en", "target": "a.fr"}
    assert load_config(tmp_path / "saved.yaml") == config
    assert load_config(path, ["data.train.target=b.fr"]).data.train == ParallelFiles("a.en", "b.fr")
    seed = load_config(ROOT / "configs/seed.yaml", ["data.val.source=v.en", "data.val.target=v.fr"])  # a path becomes a pair
    assert (seed.data.train, seed.data.val) == ("data/seed.tsv", ParallelFiles("v.en", "v.fr"))


@pytest.mark.parametrize(
    "data,message",
    [
        ({"train": {"source": "a.en"}}, "c.yaml: data.train.target is required"),
        ({"train": {"source": "a.en", "taget": "a.fr"}}, "unknown key data.train.taget (did you mean target?)"),
        ({"train": ["a.en", "a.fr"]}, "data.train must be a string or a mapping of source and target, got list"),
        ({"train": {"source": None, "target": "a.fr"}}, "data.train.source must be a string"),
        ({"train": "a.jsonl.gz", "target_lang": "fr"}, "data.source_lang is required to read data.train (a.jsonl.gz)"),
        ({"train": "a.tsv", "val": "b.jsonl", "source_lang": "en"}, "data.target_lang is required to read data.val (b.jsonl)"),
    ],
)
def test_a_bad_data_section_names_the_key(tmp_path, data, message):
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(tmp_path, data))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_languages_without_json_lines_are_a_warning(tmp_path):
    warning = "data.source_lang does nothing without a JSON Lines file (.jsonl) as data.train or data.val"
    assert unused_settings(load_config(config_file(tmp_path, {"train": "a.tsv", "source_lang": "en"}))) == [warning]
    target_only = {"train": "a.tsv", "target_lang": "fr"}  # also evaluate's WMT-recipe BLEU language: in use
    assert unused_settings(load_config(config_file(tmp_path, target_only))) == []
    both = {"source_lang": "en", "target_lang": "fr"}
    assert unused_settings(load_config(config_file(tmp_path, {"train": "a.tsv", "val": "b.jsonl", **both}))) == []


def test_the_fingerprints_cover_both_parallel_files(tmp_path):
    files = write_corpus(tmp_path, SEED_PAIRS)
    config = load_config(config_file(tmp_path, {"train": {"source": str(files["en"]), "target": str(files["fr"])}}))
    saved = data_fingerprints(config)
    assert list(saved) == ["data.train.source", "data.train.target"]
    write(files["fr"], [t.replace("etudiant", "etudianx") for _, t in SEED_PAIRS])
    with pytest.raises(DataError, match=rf"{files['fr']}: data.train.target changed since the run started \(same size"):
        check_fingerprints(saved, config)


def train(tmp_path: Path, *overrides: str):
    sets = [a for o in (*QUICK, f"train.runs_dir={tmp_path / 'runs'}", *overrides) for a in ("--set", o)]
    return run_cli("train", "-c", "configs/seed.yaml", *sets)


def test_training_from_parallel_files_through_the_cli(tmp_path):
    files = write_corpus(tmp_path, SEED_PAIRS)
    result = train(tmp_path, f"data.train.source={files['en']}", f"data.train.target={files['fr']}",
                   f"data.val.source={files['en']}", f"data.val.target={files['fr']}")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "seed"
    assert load_run_config(run_dir).data.train == ParallelFiles(str(files["en"]), str(files["fr"]))
    data_files = runs.load_checkpoint(run_dir / runs.LAST)["trainer"]["data_files"]
    assert set(data_files) == {"data.train.source", "data.train.target", "data.val.source", "data.val.target"}
    # a run trained without languages cannot pick a JSON Lines file's sides: it says so in one line
    assert_one_line_error(run_cli("evaluate", "--data", str(files["jsonl"]), "--run", str(run_dir)),
                          f"{files['jsonl']}: JSON Lines needs data.source_lang and data.target_lang")


def test_training_from_gzipped_json_lines_and_evaluating_on_it(tmp_path):
    files = write_corpus(tmp_path, SEED_PAIRS, ".gz")
    result = train(tmp_path, f"data.train={files['jsonl']}", f"data.val={files['jsonl']}",
                   "data.source_lang=en", "data.target_lang=fr")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    run_dir = tmp_path / "runs" / "seed"
    scores = {}
    for data in (files["jsonl"], files["tsv"]):
        result = run_cli("evaluate", "--data", str(data), "--run", str(run_dir))
        assert result.exit_code == 0, result.output
        scores[data] = json.loads((run_dir / f"{data.stem}.eval.json").read_text())
    assert scores[files["jsonl"]]["sentences"] == 5
    assert scores[files["jsonl"]]["bleu"] == scores[files["tsv"]]["bleu"]
    align = write(tmp_path / "pairs.align", ["0-0"] * 5)
    result = run_cli("attend", "--run", str(run_dir), "--input", str(files["jsonl"]), "--align", str(align),
                     "--output", str(tmp_path / "page.html"))
    assert result.exit_code == 0, result.output


def moses_case(tmp_path: Path, source: list[str], target: list[bytes]) -> list[str]:
    write(tmp_path / "train.en", source)
    (tmp_path / "train.fr").write_bytes(b"".join(line + b"\n" for line in target))
    return [f"data.train.source={tmp_path / 'train.en'}", f"data.train.target={tmp_path / 'train.fr'}"]


SEED_FR = [t.encode() for _, t in SEED_PAIRS]
SEED_EN = [s for s, _ in SEED_PAIRS]


@pytest.mark.parametrize(
    "source,target,message",
    [
        (SEED_EN, [*SEED_FR, b"encore une"], "train.fr:6: target file has more lines than {dir}/train.en (5)"),
        ([*SEED_EN, "one more", "and another"], SEED_FR, "train.en:6: source file has more lines than {dir}/train.fr (5)"),
        (SEED_EN, [SEED_FR[0], b"", *SEED_FR[2:]], "train.fr:2: empty target line, but {dir}/train.en:2 is not"),
        (["", *SEED_EN[1:]], SEED_FR, "train.en:1: empty source line, but {dir}/train.fr:1 is not"),
        (SEED_EN, [SEED_FR[0], b"caf\xe9", *SEED_FR[2:]], "train.fr:2: not valid UTF-8 (byte 0xe9 at column 4)"),
        (SEED_EN, [SEED_FR[0], "\u200b".encode(), *SEED_FR[2:]], "train.fr:2: target side has no words after normalisation"),
        (["", ""], [b"", b""], "train.en: no sentence pairs found"),
    ],
)
def test_a_bad_parallel_file_names_its_first_bad_line(tmp_path, source, target, message):
    result = train(tmp_path, *moses_case(tmp_path, source, target), "data.val=null")
    assert_one_line_error(result, f"{tmp_path}/{message.format(dir=tmp_path)}")
    assert not (tmp_path / "runs").exists()


def test_a_missing_parallel_file_is_named(tmp_path):
    sets = moses_case(tmp_path, SEED_EN, SEED_FR)
    (tmp_path / "train.fr").unlink()
    assert_one_line_error(train(tmp_path, *sets), f"{tmp_path / 'train.fr'}: no such data file")


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"translation": {"en": "hello", "fr": "bonjour"}', "x.jsonl:2: not valid JSON (Expecting ',' delimiter at column 49)"),
        ("[" * 100_000, "x.jsonl:2: not valid JSON"),
        ('{"en": "hello", "fr": "bonjour"}', 'x.jsonl:2: expected {"translation": {"en": ..., "fr": ...}}'),
        ('{"translation": {"en": "hi", "de": "du"}}', 'x.jsonl:2: no "fr" (data.target_lang) in "translation" (it has en, de)'),
        ('{"translation": {"en": 3, "fr": "trois"}}', 'x.jsonl:2: "translation" "en" must be a string, got int'),
        ('{"translation": {"en": "  ", "fr": "rien"}}', "x.jsonl:2: empty source side"),
    ],
)
@pytest.mark.parametrize("gz", ["", ".gz"])
def test_a_bad_json_line_names_file_and_line(tmp_path, line, message, gz):
    data = write(tmp_path / f"x.jsonl{gz}", [*jsonl_lines(SEED_PAIRS[:1]), line, *jsonl_lines(SEED_PAIRS[1:])])
    result = train(tmp_path, f"data.train={data}", "data.val=null", "data.source_lang=en", "data.target_lang=fr")
    assert_one_line_error(result, f"{tmp_path}/{message.replace('x.jsonl', 'x.jsonl' + gz)}")


@pytest.mark.parametrize(
    "content,message",
    [
        (b"i am\tje suis\n", "pairs.tsv.gz: corrupt gzip file (Not a gzipped file"),
        (gzip.compress("".join(f"{s}\t{t}\n" for s, t in BUNDLED).encode())[:2000], "pairs.tsv.gz: corrupt gzip file after line"),
    ],
)
def test_a_corrupt_gzip_file_is_one_line_naming_it(tmp_path, content, message):
    (tmp_path / "pairs.tsv.gz").write_bytes(content)
    result = train(tmp_path, f"data.train={tmp_path / 'pairs.tsv.gz'}", "data.val=null")
    assert_one_line_error(result, f"{tmp_path}/{message}")


def test_json_lines_without_languages_is_a_key_error_through_the_cli(tmp_path):
    data = write(tmp_path / "x.jsonl", jsonl_lines(SEED_PAIRS))
    assert_one_line_error(train(tmp_path, f"data.train={data}", "data.val=null", "data.target_lang=fr"),
                          f"data.source_lang is required to read data.train ({data})")


@pytest.mark.parametrize("name", ["pairs.tsv", "pairs.tsv.gz", "pairs.jsonl"])
def test_a_huge_line_is_one_error_naming_file_and_line_never_read_whole(tmp_path, name):
    huge = "x" * (3 << 20)  # 3 MiB: over data.max_line_bytes (1 MiB)
    lines = [f"{s}\t{t}" for s, t in SEED_PAIRS[:2]] + [f"{huge}\ty"]
    data = write(tmp_path / name, jsonl_lines([*SEED_PAIRS[:2], (huge, "y")]) if "jsonl" in name else lines)
    langs = ("data.source_lang=en", "data.target_lang=fr") if "jsonl" in name else ()
    result = train(tmp_path, f"data.train={data}", "data.val=null", *langs)
    assert_one_line_error(result, f"{data}:3: line longer than 1,048,576 bytes (data.max_line_bytes)")
    with pytest.raises(DataError, match=r":3: line longer than 1,000 bytes"):
        read_pairs(data, ("en", "fr"), Limits(line_bytes=1000))
    assert len(read_pairs(data, ("en", "fr"), Limits(line_bytes=4 << 20))) == 3  # the cap is a setting:
    config = load_config(ROOT / "configs/seed.yaml", ["data.max_line_bytes=4194304", "data.max_gzip_ratio=500"])
    assert Limits.of(config.data) == Limits(4 << 20, 500)  # what training reads with (prepare.read_corpus)


def test_a_gzip_bomb_is_one_error_naming_file_and_line(tmp_path):
    bomb = tmp_path / "pairs.tsv.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    block = (b"x" * 1000 + b"\ty\n") * 1024  # 1 MiB of pairs
    with open(bomb, "wb") as handle:
        for _ in range(32):  # 32 MiB unpacked, well under 100 KB on disk
            handle.write(packer.compress(block))
        handle.write(packer.flush())
    size = bomb.stat().st_size
    assert size < 100_000
    result = train(tmp_path, f"data.train={bomb}", "data.val=null")
    line = (10 << 20) // 1003 + 1  # the first whose end is past the cap: 10 MiB, more than 100 times its size
    assert_one_line_error(result, f"{bomb}:{line}: unpacks to over 10,485,760 bytes, the most a {size:,}-byte .gz may "
                          "(data.max_gzip_ratio: 100, at least 10 MiB): a gzip bomb?")
    assert len(read_pairs(bomb, limits=Limits(gzip_ratio=1000))) == 32 * 1024  # the ratio is a setting
