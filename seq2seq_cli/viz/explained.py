"""Attention beside attribution: one picture with both maps, and a terminal table for signed scores.

Attention is a distribution (0 to 1, rows sum to 1); attribution is signed and unbounded (how
much a source word raised or lowered the output word's log-probability), so each panel has its
own colour scale: attention on the heatmap's usual 0-1 scale, attribution on a diverging scale
centred on 0 and as wide as its largest magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seq2seq_cli.viz.plot import _draw_cell_borders, _save, check_image_path, chosen_map, pyplot

METHOD_NAMES = {"grad": "gradient × input", "ig": "integrated gradients", "occlusion": "occlusion"}


def method_title(attribution) -> str:
    """"integrated gradients (32 steps, delta 0.0003)" and the like: what the scores are."""
    name = METHOD_NAMES[attribution.method]
    return f"{name} (convergence delta {attribution.delta:.2g})" if attribution.delta is not None else name


def plot_explained(translation, path: Path, layer: int | None = None, head: int | None = None, pieces: bool = False) -> None:
    """Attention (left) and attribution (right) of one translation, source words across, output words down."""
    check_image_path(path)
    shown = translation if pieces else translation.by_words()
    weights, which = chosen_map(shown, layer, head)
    scores = shown.attribution.scores
    plt = pyplot()
    width = max(4.5, 0.7 * len(shown.source) + 2.5)
    figure, (left, right) = plt.subplots(1, 2, figsize=(2 * width, max(3.5, 0.55 * len(shown.steps) + 2.5)),
                                         layout="constrained")
    _panel(figure, left, shown, weights.float().numpy(), "bone", (0.0, 1.0), "attention weight",
           "attention" + (f" ({which})" if which else ""))
    bound = float(scores.abs().max()) or 1.0
    _panel(figure, right, shown, scores.float().numpy(), "RdBu_r", (-bound, bound), "attribution (log-probability)",
           "attribution: " + method_title(shown.attribution))
    right.set_yticklabels([])
    figure.suptitle(f"“{' '.join(shown.source)}” → “{shown.text}”", fontsize=11)
    _save(figure, path)


def _panel(figure, axes, shown, values, cmap: str, limits: tuple[float, float], label: str, title: str) -> None:
    image = axes.imshow(values, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
    axes.set_xticks(range(len(shown.source)), labels=shown.source, rotation=45, ha="left", rotation_mode="anchor")
    axes.set_yticks(range(len(shown.steps)), labels=shown.steps)
    axes.xaxis.tick_top()
    axes.set_title(title, fontsize=10, pad=40)
    _draw_cell_borders(axes, values.shape)
    figure.colorbar(image, ax=axes, shrink=0.9, label=label)


def attribution_table(source: Sequence[str], output: Sequence[str], scores, title: str = ""):
    """Signed scores as a rich table: red for words that raised the output word's probability, blue for
    ones that lowered it, brighter for larger magnitudes (relative to the largest in the table)."""
    from rich.table import Table
    from rich.text import Text

    bound = float(scores.abs().max()) or 1.0
    table = Table(title=title or None, title_justify="left")
    table.add_column("", justify="right", style="bold")
    for word in source:
        table.add_column(word, justify="right")
    for word, row in zip(output, scores.tolist()):
        table.add_row(word, *(Text(f"{s:+.2f}", style=_signed_shade(s / bound)) for s in row))
    return table


def _signed_shade(level: float) -> str:
    strength = min(abs(level), 1.0)
    if strength < 0.1:
        return "grey70"
    tone = int(60 + 180 * strength)
    colour = f"rgb({tone},40,40)" if level > 0 else f"rgb(40,{int(tone * 0.6)},{tone})"
    return f"{'white' if strength > 0.35 else 'default'} on {colour}"
