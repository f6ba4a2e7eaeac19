"""Experiment tracking: what ``train.log_to`` sends where, besides the run folder's own logs.

TensorBoard (``train.log_to: [tensorboard]``) gets each validation's scalars and the probe
sentences' attention as images, in ``runs/<name>/tensorboard/`` (``tensorboard --logdir runs/``).
It is an optional extra, so this module imports nothing heavy until a run asks for it; whether it
is installed is checked when the config is read, before any work.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from seq2seq_cli.config.checks import INSTALL
from seq2seq_cli.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"
# metrics.jsonl key -> TensorBoard tag: loss curves share a chart, the rest get one each
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "val_bleu": "BLEU/validation",
    "val_chrf": "chrF/validation",
    "lr": "learning rate",
    "tokens_per_s": "tokens per second",
}
CELL = 16  # pixels a side for one attention weight in TensorBoard's images


class Tracking:
    """The trackers one training run writes to (none by default): one ``log`` per validation."""

    def __init__(self, writers: Sequence[TensorBoard] = ()):
        self.writers = list(writers)

    def log(self, record: dict, probes: dict | None = None) -> None:
        for writer in self.writers:
            writer.log(record, probes)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


NOTHING = Tracking()


@contextlib.contextmanager
def opened(log_to: Sequence[str], run_dir: Path, step: int = 0) -> Iterator[Tracking]:
    """The run's trackers for one stretch of training, closed (and flushed) however it ends.

    ``step`` is where a resumed run continues: TensorBoard hides anything an interrupted run
    logged after its last checkpoint, so the curves match ``metrics.jsonl``.
    """
    tracking = Tracking([TensorBoard(run_dir / TENSORBOARD_DIR, step) for name in log_to if name == "tensorboard"])
    try:
        yield tracking
    finally:
        tracking.close()


class TensorBoard:
    """Scalars and probe attention images through ``torch.utils.tensorboard``."""

    def __init__(self, log_dir: Path, step: int = 0):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError(f"train.log_to: tensorboard is not usable ({exc}): {INSTALL['tensorboard']}") from None
        # purge_step: events an interrupted run wrote past its last checkpoint are hidden
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=step + 1 if step else None)

    def log(self, record: dict, probes: dict | None = None) -> None:
        """One validation: its scores, then each probe's attention and translation; flushed so a
        running ``tensorboard`` shows it at once."""
        step = record["step"]
        for key, tag in SCALARS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], step)
        for number, probe in enumerate((probes or {}).get("probes", []), 1):
            name = f"{number} {_tag_text(probe['source'])}"
            self.writer.add_image(f"attention/{name}", attention_image(probe["cross"]), step, dataformats="HWC")
            self.writer.add_text(f"translation/{name}", f"{probe['source']} → {probe['text']}", step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def attention_image(encoded: dict):
    """A probe's attention map (output words down, source words across) as an RGB array, each
    weight a ``CELL``-pixel square on the 0-1 ``Blues`` scale of ``s2s attend --style annotated``."""
    import numpy
    from matplotlib import colormaps

    from seq2seq_cli.viz.maps import decode_map

    weights = decode_map(encoded).numpy()
    rgb = (colormaps["Blues"](weights)[..., :3] * 255).astype(numpy.uint8)
    return rgb.repeat(CELL, axis=0).repeat(CELL, axis=1)


def _tag_text(sentence: str) -> str:
    """A sentence as part of a tag: no slashes (they nest charts), not too long."""
    return re.sub(r"[/\\]", " ", sentence)[:60]
