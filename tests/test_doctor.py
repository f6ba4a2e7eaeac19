"""`s2s doctor`: the facts a bug report needs, measured, and the warnings that explain slow runs."""

from __future__ import annotations

import json

from seq2seq_cli.training import doctor
from tests.conftest import run_cli


def test_doctor_reports_the_machine_torch_and_measured_peaks():
    result = run_cli("doctor", "--json", "--seconds", "0.2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cpu"] == doctor.cpu_model()[0] and report["logical_cores"] >= 1
    assert report["fp32_gflops"] > 0 and report["bf16_gflops"] > 0
    assert report["torch"].startswith("2.") and report["threads"] >= 1
    assert any("MKL" in line or "oneDNN" in line or "MKL-DNN" in line or "OpenBLAS" in line for line in report["build"])
    assert report["choices"]["train.device: auto"] in ("cpu", "cuda")
    assert report["choices"]["train.precision: auto"].startswith("bf16 or fp32" if "amx_bf16" in report["features"] else "fp32")


def test_doctor_text_names_what_a_bug_report_needs():
    text = run_cli("doctor", "--seconds", "0.2").stdout
    for label in ("CPU ", "cores ", "torch ", "threads ", "matmul peak ", "s2s chooses "):
        assert label in text


def make_report(**changes) -> doctor.MachineReport:
    base = dict(cpu="x", logical_cores=2, usable_cores=2, features=[], python="3", torch="2", build=[], cuda_build=None,
                gpus=[], threads=2, fp32_gflops=100.0, bf16_gflops=20.0, memory_total_gib=24.0,
                memory_available_gib=20.0, load_average=1.0)
    return doctor.MachineReport(**{**base, **changes})


def test_the_warnings_name_what_will_hurt():
    assert doctor._warnings(make_report(), None) == []
    busy = doctor._warnings(make_report(load_average=3.2), None)
    assert len(busy) == 1 and "other processes are using the cores" in busy[0]
    cuda = doctor._warnings(make_report(cuda_build="12.8"), None)
    assert len(cuda) == 1 and "CUDA 12.8 build on a machine without a usable GPU" in cuda[0]
    assert "threads on 2 usable cores" in doctor._warnings(make_report(threads=8), None)[0]


def test_a_corpus_too_big_for_the_memory_is_a_warning(tmp_path):
    from seq2seq_cli.config import Config

    corpus = tmp_path / "big.tsv"
    corpus.write_bytes(b"a\tb\n" * 300_000)  # 1.2 MB: too big for a machine with 10 MB free
    config = Config()
    config.data.train = str(corpus)
    assert doctor._warnings(make_report(memory_available_gib=0.01), config)[0].startswith("data.train is")
    assert doctor._warnings(make_report(), config) == []


def test_doctor_says_auto_keeps_float32_on_a_gpu_even_beside_amx():
    """The H200's host has AMX, but training runs on the GPU, where auto does not measure bf16."""
    from seq2seq_cli.training.doctor import _auto_precision

    assert _auto_precision("cuda", ["amx_bf16"]).startswith("fp32")
    assert _auto_precision("cpu", ["amx_bf16"]).startswith("bf16 or fp32")
    assert _auto_precision("cpu", ["avx512f"]).startswith("fp32")
