"""Property tests: any bytes or text a user can feed gives a result or a clear error, never a traceback."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seq2seq_cli.config import load_config
from seq2seq_cli.data.corpora import read_pairs
from seq2seq_cli.data.text import tokenize
from seq2seq_cli.errors import S2SError
from tests.conftest import run_cli

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TSV_BYTES = st.binary(max_size=300) | st.lists(
    st.sampled_from([b"a", b"\t", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xff", b" ", "é".encode(), b"\x00"]), max_size=60
).map(b"".join)


@FAST
@given(content=TSV_BYTES)
def test_the_tsv_reader_takes_any_bytes(tmp_path, content):
    path = tmp_path / "any.tsv"
    path.write_bytes(content)
    try:
        pairs = read_pairs(path)
    except S2SError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    assert pairs and all(p.source.strip() and p.target.strip() for p in pairs)


@FAST
@given(text=st.text(max_size=200))
def test_the_tokeniser_takes_any_text(text):
    tokens = tokenize(text)
    assert all(token and not any(ch.isspace() for ch in token) for token in tokens)


@FAST
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_the_config_loader_takes_any_bytes(tmp_path, content):
    path = tmp_path / "any.yaml"
    path.write_bytes(content)
    try:
        load_config(path)
    except S2SError as exc:
        assert "\n" not in str(exc)


@pytest.fixture(scope="module")
def translator(seed_run):
    from seq2seq_cli.decoding.translator import Translator

    return Translator.from_run(seed_run).with_decoding(max_input_len=64)


@FAST
@given(text=st.text(max_size=120))
def test_translate_takes_any_unicode_string(translator, text):
    try:
        translation = translator.translate([text])[0]
    except S2SError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(translation.text, str)


AWKWARD = {  # input -> the unknown words it is read with (it translates, exit 0), or the one-line error refusing it
    "": "error: empty sentence: nothing to translate",
    "   \t ": "error: empty sentence: nothing to translate",
    "\x00\x07\x1b[31m": "warning: unknown words read as <unk>: [, 31m",  # control characters are dropped
    "مرحبا بالعالم": "warning: unknown words read as <unk>: مرحبا, بالعالم",
    "שלום עולם": "warning: unknown words read as <unk>: שלום, עולם",
    "\u202eevil\u202c": "warning: unknown words read as <unk>: evil",  # bidi overrides are dropped
    "🙂🚗 🇫🇷": "warning: unknown words read as <unk>: 🙂, 🚗, 🇫, 🇷",
    "i am a student " * 2500:
        "error: input has 10000 tokens; this model translates at most 256 (decode.max_input_len): i am a student i am ...",
}


@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_translate_answers_awkward_input_in_bounded_time(seed_run, text):
    start = time.perf_counter()
    result = run_cli("translate", "--run", str(seed_run), text)
    assert time.perf_counter() - start < 5
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [AWKWARD[text]]
    if AWKWARD[text].startswith("error:"):
        assert result.exit_code == 2 and result.stdout == ""
    else:
        assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1
