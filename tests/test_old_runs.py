"""A run folder written before the package was split into layers (tests/fixtures/run-before-layers:
configs/seed.yaml at hidden size 16, trained by commit 8977219) still loads and translates as it did."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run_cli

OLD_RUN = ROOT / "tests" / "fixtures" / "run-before-layers"
# What that commit's `s2s translate --run tests/fixtures/run-before-layers SENTENCE` printed.
BEFORE = {"i am a student": "je suis etudiant", "he is a teacher": "il est professeur", "they are artists": "ils sont artistes"}


@pytest.mark.parametrize("sentence", list(BEFORE))
def test_a_run_saved_before_the_layers_translates_as_it_did(sentence):
    result = run_cli("translate", "--run", str(OLD_RUN), sentence)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == BEFORE[sentence]


def test_a_run_saved_before_the_layers_is_listed_and_drawn(tmp_path):
    listed = run_cli("runs", "--runs-dir", str(OLD_RUN.parent), "--json")
    assert listed.exit_code == 0 and "run-before-layers" in listed.stdout
    picture = tmp_path / "old.png"
    drawn = run_cli("attend", "--run", str(OLD_RUN), "--output", str(picture), "i am a student")
    assert drawn.exit_code == 0, drawn.output
    assert picture.stat().st_size > 0
