"""Attention heatmaps and training curves (matplotlib, imported only when a picture is drawn)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from seq2seq_cli import runs
from seq2seq_cli.catalog import METRICS, Axis, Metric
from seq2seq_cli.errors import RunError, S2SError

IMAGE_TYPES = (".png", ".svg", ".pdf")
Style = Literal["grid", "annotated"]


def check_image_path(path: Path, types: Sequence[str] = IMAGE_TYPES) -> None:
    """Fail before any work if the picture could not be written."""
    if path.suffix.lower() not in types:
        allowed = ", ".join(types[:-1]) + f" or {types[-1]}" if len(types) > 1 else types[0]
        raise S2SError(f"{path}: unsupported file type {path.suffix or '(none)'}; use {allowed}")
    if not path.parent.is_dir():
        raise S2SError(f"{path}: folder {path.parent} does not exist")


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, any thread), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_attention(
    source: Sequence[str], output: Sequence[str], weights, path: Path, style: Style = "grid", title: str = ""
) -> None:
    """Source words across, output words (``<eos>`` included) down, on a fixed 0-1 colour scale.

    ``grid`` is the notebook's dark map with cell borders; ``annotated`` is a light map with
    each cell's weight printed in it.
    """
    check_image_path(path)
    plt = pyplot()
    weights = weights.detach().float().cpu().numpy()  # (len(output), len(source))
    size = (max(4.5, 0.7 * len(source) + 2.5), max(3.5, 0.55 * len(output) + 2.5))
    figure, axes = plt.subplots(figsize=size, layout="constrained")  # constrained: nothing clipped
    cmap = "bone" if style == "grid" else "Blues"
    image = axes.imshow(weights, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source)), labels=source, rotation=45, ha="left", rotation_mode="anchor")
    axes.set_yticks(range(len(output)), labels=output)
    axes.xaxis.tick_top()
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if style == "grid":
        _draw_cell_borders(axes, weights.shape)
    else:
        _annotate_cells(axes, weights)
    figure.colorbar(image, ax=axes, shrink=0.9, label="attention weight")
    if title:
        figure.suptitle("\n".join(textwrap.wrap(title, 70)), fontsize=11)
    _save(figure, path)


def plot_translation(translation, path: Path, style: Style = "grid", layer: int | None = None,
                     head: int | None = None, grid: bool = False, pieces: bool = False) -> None:
    """The heatmap ``s2s attend`` draws: one map, one head of one layer, or every head of a layer.

    Subword models are drawn over whole words unless ``pieces`` asks for the raw pieces.
    """
    check_image_path(path)
    if not pieces:
        translation = translation.by_words()
    title = f"“{' '.join(translation.source)}” → “{translation.text}”"
    if grid:
        if head is not None:
            raise S2SError("--grid draws every head of a layer: drop --head (or drop --grid to draw that head)")
        shown = _chosen_layer(translation.attention, layer, head, "--grid")
        weights = translation.attention[:, shown]
        _plot_heads(translation.source, translation.steps, weights, path, style, f"{title}\nlayer {shown}, every head")
        return
    weights, which = chosen_map(translation, layer, head)
    plot_attention(translation.source, translation.steps, weights, path, style, f"{title}\n{which}" if which else title)


def chosen_map(translation, layer: int | None = None, head: int | None = None):
    """The (steps, source) map ``--layer`` and ``--head`` pick, and its caption ("" for a single-map model)."""
    if translation.attention.dim() == 2:
        _chosen_layer(translation.attention, layer, head, "--layer and --head")
        return translation.attention, ""
    shown = _chosen_layer(translation.attention, layer, head, "")
    which = "average of its heads" if head is None else f"head {head}"
    return translation.attention_map(shown, head), f"layer {shown}, {which}"


def _chosen_layer(weights, layer: int | None, head: int | None, options: str) -> int:
    """The layer to show (default: the last); an error for a layer or head the model does not have."""
    if weights.dim() == 2:
        if layer is not None or head is not None or options == "--grid":
            raise S2SError("--layer, --head and --grid need a multi-head model (model.attention: multihead, or a transformer)")
        return 0
    layers, heads = weights.shape[1], weights.shape[2]
    if layer is not None and not 0 <= layer < layers:
        raise S2SError(f"--layer {layer}: this model has layers 0 to {layers - 1}")
    if head is not None and not 0 <= head < heads:
        raise S2SError(f"--head {head}: this model has heads 0 to {heads - 1}")
    return layers - 1 if layer is None else layer


def attention_table(source: Sequence[str], output: Sequence[str], weights, title: str = ""):
    """The map as a rich table for a terminal (over ssh, say): each weight printed on a shade of blue."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, title_justify="left")
    table.add_column("", justify="right", style="bold")
    for word in source:
        table.add_column(word, justify="right")
    for word, row in zip(output, weights.tolist()):
        table.add_row(word, *(Text(f"{w:.2f}", style=_shade(w)) for w in row))
    return table


def _shade(weight: float) -> str:
    """White on dark blue for strong weights, fading to plain dim text for weak ones."""
    level = min(max(weight, 0.0), 1.0)
    blue = int(40 + 200 * level)
    foreground = "white" if level > 0.35 else ("grey70" if level < 0.05 else "default")
    return f"{foreground} on rgb(0,{int(blue * 0.45)},{blue})" if level >= 0.05 else foreground


def animate_training(training: dict, path: Path, seconds_per_frame: float = 0.6) -> None:
    """The probe sentences' attention over the validations as an animated GIF (for slides and READMEs).

    One figure is redrawn for every frame: building a new one each time cost most of the time.
    """
    from seq2seq_cli.viz.maps import decode_map

    plt = pyplot()
    probes, validations = training["probes"], training["validations"]
    columns = min(len(probes), 3)
    rows = -(-len(probes) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows + 0.6), squeeze=False)
    figure.subplots_adjust(left=0.1, right=0.98, bottom=0.03, top=1 - 1.3 / (3.6 * rows + 0.6), wspace=0.45, hspace=0.45)
    for axes in list(grid.flat)[len(probes):]:
        axes.axis("off")
    frames = []
    for index, validation in enumerate(validations):
        for axes, probe in zip(grid.flat, probes):
            frame = probe["frames"][index]
            axes.clear()
            axes.imshow(decode_map(frame["cross"]).numpy(), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
            axes.set_xticks(range(len(probe["source_tokens"])), labels=probe["source_tokens"], rotation=45,
                            ha="left", rotation_mode="anchor", fontsize=8)
            axes.set_yticks(range(len(frame["tokens"])), labels=frame["tokens"], fontsize=8)
            axes.xaxis.tick_top()
        figure.suptitle(_validation_title(validation), fontsize=12)
        frames.append(_figure_image(figure))
    plt.close(figure)
    durations = [int(seconds_per_frame * 1000)] * (len(frames) - 1) + [2500]  # linger on the trained model
    with runs.replaced_atomically(path) as temporary:  # whole or not at all
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                       optimize=True)


def _validation_title(validation: dict) -> str:
    parts = [f"step {validation['step']}"]
    if validation.get("val_loss") is not None:
        parts.append(f"validation loss {validation['val_loss']:.3f}")
    if validation.get("val_bleu") is not None:
        parts.append(f"BLEU {validation['val_bleu']:.1f}")
    return " · ".join(parts)


def _figure_image(figure):
    """A drawn figure as a palette image (every frame of a GIF has the figure's size)."""
    from PIL import Image

    figure.canvas.draw()
    image = Image.frombuffer("RGBA", figure.canvas.get_width_height(), figure.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    return image.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE)


def plot_members(translation, path: Path, names: Sequence[str], style: Style = "grid", pieces: bool = False) -> None:
    """An ensemble's translation with what each of its models attends to, side by side (``attend --per-model``);
    ``translation.attention``: (steps, 1, models, source), as an ensemble keeps it per model."""
    check_image_path(path)
    if not pieces:
        translation = translation.by_words()
    title = f"“{' '.join(translation.source)}” → “{translation.text}”\neach model of the ensemble"
    _plot_heads(translation.source, translation.steps, translation.attention[:, 0], path, style, title, names)


def _plot_heads(source: Sequence[str], output: Sequence[str], weights, path: Path, style: Style, title: str,
                labels: Sequence[str] | None = None) -> None:
    """Every head of one layer (or every model, named by ``labels``) side by side, on one colour scale.
    weights: (steps, heads, src_len)."""
    plt = pyplot()
    heads = weights.shape[1]
    columns = min(heads, 4)
    rows = -(-heads // columns)
    cell = (max(3.0, 0.5 * len(source) + 1.5), max(2.5, 0.4 * len(output) + 1.5))
    figure, grid = plt.subplots(rows, columns, figsize=(cell[0] * columns, cell[1] * rows), layout="constrained", squeeze=False)
    cmap = "bone" if style == "grid" else "Blues"
    for index, axes in enumerate(grid.flat):
        if index >= heads:
            axes.axis("off")
            continue
        image = axes.imshow(weights[:, index].float().numpy(), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        axes.set_title(labels[index] if labels else f"head {index}", fontsize=10)
        axes.set_xticks(range(len(source)), labels=source, rotation=60, ha="left", rotation_mode="anchor", fontsize=8)
        axes.set_yticks(range(len(output)), labels=output, fontsize=8)
        axes.xaxis.tick_top()
    figure.colorbar(image, ax=grid, shrink=0.8, label="attention weight")
    figure.suptitle(title, fontsize=11)
    _save(figure, path)


def _draw_cell_borders(axes, shape: tuple[int, int]) -> None:
    rows, columns = shape
    axes.set_xticks([x - 0.5 for x in range(1, columns)], minor=True)
    axes.set_yticks([y - 0.5 for y in range(1, rows)], minor=True)
    axes.grid(which="minor", color="#808080", linewidth=0.8)
    axes.tick_params(which="minor", length=0)


def _annotate_cells(axes, weights) -> None:
    for row in range(weights.shape[0]):
        for column in range(weights.shape[1]):
            value = weights[row, column]
            colour = "white" if value > 0.6 else "black"
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8, color=colour)


@dataclass
class Curve:
    """One line of a curves plot: its legend label, and a value (None: no point) at each x."""

    label: str
    x: list[float]
    values: list[Optional[float]]


CURVES_SIZE = (7, 4)  # inches; 1050 x 600 pixels at the 150 dpi pictures are saved with


def _curves_axes(x_label: str, y_label: str):
    """The figure every curves plot starts from: one grid, the x axis named."""
    figure, axes = pyplot().subplots(figsize=CURVES_SIZE, layout="constrained")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(alpha=0.3)
    return figure, axes


def _draw_curve(axes, curve: Curve, **style) -> None:
    """A line with a dot at each validation."""
    axes.plot(curve.x, [float("nan") if v is None else v for v in curve.values], marker=".", label=curve.label, **style)


def plot_curves(records: Sequence[dict], path: Path) -> None:
    """Training and validation loss against steps, and validation BLEU on a second axis."""
    figure, axes = _curves_axes("step", "cross-entropy per token")
    steps = [r["step"] for r in records]
    _draw_curve(axes, Curve("train loss", steps, [r["train_loss"] for r in records]))
    if any(r.get("val_loss") is not None for r in records):
        _draw_curve(axes, Curve("validation loss", steps, [r["val_loss"] for r in records]))
    handles, labels = axes.get_legend_handles_labels()
    if any(r.get("val_bleu") is not None for r in records):
        bleu_axes = axes.twinx()
        _draw_curve(bleu_axes, Curve("validation BLEU", steps, [r["val_bleu"] for r in records]), color="tab:green")
        bleu_axes.set_ylabel("BLEU")
        more_handles, more_labels = bleu_axes.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axes.legend(handles, labels, loc="center right")
    _save(figure, path)


def comparison_figure(curves: Sequence[Curve], x_label: str, y_label: str):
    """Several runs' curves on one plot, the legend naming each run (the figure, for ``plot_comparison``
    to save and for tests to read the lines from)."""
    figure, axes = _curves_axes(x_label, y_label)
    for curve in curves:
        _draw_curve(axes, curve)
    axes.legend(loc="best")
    return figure


def plot_comparison(curves: Sequence[Curve], path: Path, x_label: str, y_label: str) -> None:
    """``s2s compare``'s picture, always ``CURVES_SIZE`` at 150 dpi (not cropped: runs' pictures line up)."""
    check_image_path(path)
    _save(comparison_figure(curves, x_label, y_label), path, tight=False)


def _save(figure, path: Path, tight: bool = True) -> None:
    import matplotlib.pyplot as plt

    try:
        with runs.replaced_atomically(path) as temporary:  # whole or not at all (curves.png in a run folder)
            figure.savefig(temporary, format=path.suffix[1:].lower(), dpi=150, bbox_inches="tight" if tight else None)
    finally:
        plt.close(figure)


def validation_curves(run_dirs: Sequence[Path], metric: Metric = "bleu", axis: Axis = "step") -> list:
    """Each run's validation ``metric`` against ``axis``, named as ``s2s attend`` names runs."""
    key, label = METRICS[metric]
    curves = []
    names = [d.name for d in run_dirs]
    for run_dir in run_dirs:
        name = str(run_dir) if names.count(run_dir.name) > 1 else run_dir.name  # a path where two runs share a name
        records = [r for r in runs.read_metrics(run_dir) if r.get(key) is not None]
        if not records:
            raise RunError(f"{run_dir}: no {label} in {runs.METRICS} yet (no validation has run, or there is no validation set)")
        xs = [r["step"] if axis == "step" else r["elapsed"] / 60 for r in records]
        curves.append(Curve(name, xs, [r[key] for r in records]))
    return curves
