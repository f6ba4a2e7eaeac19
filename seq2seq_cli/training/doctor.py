"""``s2s doctor``: what this machine is, what torch can do on it, and what will slow s2s down.

Users paste its output into bug reports; every figure s2s publishes depends on these facts (the
CPU kind, its matrix units, torch's build, the threads in use, the cores other processes take).
The matrix-multiply peaks are measured, not looked up: a few seconds of ``torch.mm``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from seq2seq_cli.system import FEATURES, CoreUse, cpu_model, matmul_gflops, memory_gib


@dataclass
class MachineReport:
    cpu: str
    logical_cores: int
    usable_cores: int  # what this process may run on (cgroups, taskset)
    features: list[str]  # the vector and matrix extensions that matter to torch's kernels
    python: str
    torch: str
    build: list[str]  # BLAS and oneDNN, from torch's own build description
    cuda_build: Optional[str]  # the CUDA version torch was built for, None for a CPU build
    gpus: list[str]
    threads: int
    fp32_gflops: float
    bf16_gflops: float
    memory_total_gib: float
    memory_available_gib: float
    load_average: float  # runnable processes over the last minute, this one included
    other_cores: Optional[float] = None  # cores other processes kept busy while this one measured (None: unknown)
    choices: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _build(torch) -> list[str]:
    """The lines of torch's build description that decide CPU speed: BLAS, oneDNN, the vector ISA used."""
    wanted = ("Math Kernel Library", "MKL-DNN", "oneDNN", "OpenBLAS", "CPU capability usage", "OpenMP")
    return [line.strip(" -") for line in torch.__config__.show().splitlines() if any(w in line for w in wanted)]


def examine(seconds: float = 1.0, config=None) -> MachineReport:
    """Look at the machine (``seconds`` per matmul measurement) and, given a config, what training it will take."""
    import torch

    name, flags = cpu_model()
    total, available = memory_gib()
    use = CoreUse()  # read again after the matmuls: what others ran meanwhile
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    report = MachineReport(
        cpu=name, logical_cores=os.cpu_count() or 1,
        usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        features=[f for f in FEATURES if f in flags], python=platform.python_version(), torch=torch.__version__,
        build=_build(torch), cuda_build=torch.version.cuda, gpus=gpus, threads=torch.get_num_threads(),
        fp32_gflops=matmul_gflops(torch.float32, seconds=seconds), bf16_gflops=matmul_gflops(torch.bfloat16, seconds=seconds),
        memory_total_gib=total, memory_available_gib=available, load_average=os.getloadavg()[0], other_cores=use.others(),
    )
    report.choices = _choices(report, config)
    report.warnings = _warnings(report, config)
    return report


def _choices(report: MachineReport, config) -> dict[str, str]:
    """The settings s2s picks by itself here (``train.device: auto``, ``train.threads: 0``...)."""
    device = "cuda" if report.gpus else "cpu"
    chosen = config.train.threads if config is not None else 0
    ratio = report.bf16_gflops / report.fp32_gflops if report.fp32_gflops else 0.0
    units = "AMX" if "amx_bf16" in report.features else "no bf16 matrix units (AMX)"
    return {
        "train.device: auto": device,
        **({"train.threads": str(chosen)} if chosen else {"train.threads: 0": _shared_threads(report)}),
        "bf16 / float32 matmul": f"{ratio:.2f}x ({units})",
        "train.precision: auto": _auto_precision(device, report.features),
    }


def _shared_threads(report: MachineReport) -> str:
    """``train.threads: 0``: all the cores alone, what other processes leave while they run (training/sharing.py)."""
    from seq2seq_cli.training.sharing import threads_beside

    rule = (f"{report.threads} alone, the cores other processes leave free (at least 1) while they run, looked at "
            "every second: side by side, 2-thread trainings on 2 cores stall each other (bench/SHARING.md)")
    if report.other_cores is None:
        return rule
    now = threads_beside(report.other_cores, report.threads)
    return f"{rule}; now {now} (others used {report.other_cores:.1f} cores)"


def _auto_precision(device: str, features: list[str]) -> str:
    """What ``train.precision: auto`` will do here, by training's own rule."""
    from seq2seq_cli.training.precision import answer_without_measuring

    answer = answer_without_measuring(device, "amx_bf16" in features)
    return f"{answer[0]} ({answer[1]})" if answer else "bf16 or fp32, whichever a few training steps measure faster (AMX)"


def _warnings(report: MachineReport, config) -> list[str]:
    """What will make s2s slower or fail here, one line each."""
    found = []
    others = report.load_average - 1  # this process, measuring, is one of the runnable ones
    if others >= 0.5 * report.usable_cores:
        found.append(f"other processes are using the cores (load average {report.load_average:.1f} on "
                     f"{report.usable_cores} cores): training and timings will be slower than alone")
    if report.cuda_build and not report.gpus:
        found.append(f"torch is a CUDA {report.cuda_build} build on a machine without a usable GPU: a CPU build is "
                     "smaller and starts faster (pip install -c constraints.txt -e . installs one)")
    if report.threads > report.usable_cores:
        found.append(f"torch uses {report.threads} threads on {report.usable_cores} usable cores: they will "
                     "wait for each other (set train.threads)")
    if config is not None:
        found += _data_warnings(config, report)
    return found


def _data_warnings(config, report: MachineReport) -> list[str]:
    """Too little memory for the configured corpus: held in memory as Python strings and lists of ids it takes
    many times its size on disk (1M Multi30k pairs, about 140 MB of TSV, peaked at 3.1 GB: issue 15)."""
    spec = config.data.train
    files = [spec] if isinstance(spec, str) else [spec.source, spec.target]
    size_gib = sum(Path(f).stat().st_size for f in files if Path(f).is_file()) / 2**30
    if size_gib * 20 > report.memory_available_gib:
        return [f"data.train is {size_gib:.1f} GiB and {report.memory_available_gib:.1f} GiB of memory is free: "
                "reading it may run out of memory"]
    return []


def render(report: MachineReport) -> str:
    """The report as plain text, one fact a line, for a bug report."""
    lines = [
        f"CPU            {report.cpu}",
        f"cores          {report.logical_cores} logical, {report.usable_cores} usable by this process",
        f"features       {', '.join(report.features) or 'none of ' + ', '.join(FEATURES)}",
        f"memory         {report.memory_total_gib:.1f} GiB, {report.memory_available_gib:.1f} GiB available",
        f"python         {report.python}",
        f"torch          {report.torch} ({'CUDA ' + report.cuda_build if report.cuda_build else 'CPU build'})",
        *(f"  build        {line}" for line in report.build),
        f"GPUs           {', '.join(report.gpus) or 'none'}",
        f"threads        {report.threads}",
        f"matmul peak    {report.fp32_gflops:,.0f} GFLOP/s float32, {report.bf16_gflops:,.0f} GFLOP/s bfloat16 "
        f"(torch.mm 1024x1024, {report.threads} threads)",
        *(f"s2s chooses    {key} -> {value}" for key, value in report.choices.items()),
    ]
    lines += [f"warning: {message}" for message in report.warnings]
    return "\n".join(lines)
