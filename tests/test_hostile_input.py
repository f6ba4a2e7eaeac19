"""Property tests: any bytes or text a user can feed gives a result or a clear error, never a traceback."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seq2seq_cli.config import load_config
from seq2seq_cli.data import read_pairs, tokenize
from seq2seq_cli.errors import S2SError

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
    from seq2seq_cli.translator import Translator

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


@pytest.mark.parametrize(
    "text",
    ["", "   \t ", "\x00\x07\x1b[31m", "مرحبا بالعالم", "שלום עולם", "\u202eevil\u202c", "🙂🚗 🇫🇷", "i am a student " * 2500],
)
def test_translate_answers_awkward_input_in_bounded_time(translator, text):
    start = time.perf_counter()
    try:
        translator.translate([text])
    except S2SError:
        pass
    assert time.perf_counter() - start < 5
