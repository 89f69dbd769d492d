"""PNG plots of a run: training curves from ``metrics.csv``, per-motion error and success plots.

Figures are built with matplotlib's object API on an Agg canvas (no pyplot): they never enter
pyplot's global figure list, so nothing has to be closed, nothing leaks across calls and the
caller's backend is left alone. Sizes are fixed (:data:`DPI`, the ``*_SIZE_IN`` constants) so a
PNG's pixel size is known in advance. Every PNG is written atomically (temp file + rename).
matplotlib and numpy are imported inside the functions.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from motion.errors import ResultsFileError
from motion.io_utils import PathLike, atomic_output

DPI = 100  # pixels per inch of every PNG
TRAINING_CURVES_SIZE_IN = (10.0, 7.0)  # (width, height) inches → 1000 × 700 px
ERROR_HISTOGRAM_SIZE_IN = (7.0, 4.5)  # → 700 × 450 px
SUCCESS_COLOUR = "tab:blue"
FAILED_COLOUR = "tab:red"
NOT_LOGGED = "not logged yet"
UNKNOWN_SUBSET = "(unknown)"

#: the four training-curve panels: (metrics.csv column, panel title, y label with units)
TRAINING_PANELS: Tuple[Tuple[str, str, str], ...] = (
    ("Train/episode_reward", "Train/episode_reward: episode return", "reward per episode (sum)"),
    ("Eval/success_rate", "Eval/success_rate: motions tracked", "success rate (fraction of motions)"),
    ("Eval/gt_err", "Eval/gt_err: global body position error", "gt_err (m)"),
    ("Train/clip_frac", "Train/clip_frac: PPO clipped ratios", "clipped fraction of samples"),
)


def success_by_subset_size_in(num_subsets: int) -> Tuple[float, float]:
    """(width, height) inches of the success-by-subset plot: 0.5 in per bar (→ 700 × (150 + 50·n) px)."""
    return 7.0, 1.5 + 0.5 * max(1, num_subsets)


def _new_figure(size_in: Tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size_in, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save_png(figure: Any, out_png: PathLike) -> Path:
    with atomic_output(out_png) as handle:
        figure.savefig(handle, format="png", dpi=DPI)
    return Path(out_png)


def _say_in_panel(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=12, color="0.4")


# --- training curves ----------------------------------------------------------------------


def read_metrics_csv(path: PathLike) -> Tuple[List[str], List[Dict[str, str]]]:
    """(columns, rows) of a MetricsCSV file; cells are text, '' where nothing was logged."""
    if not Path(path).is_file():
        raise ResultsFileError(path, "metrics", "an existing metrics.csv", "no such file")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        # A row cut short by a crash has None for its missing cells: same as not logged.
        rows = [{key: cell or "" for key, cell in row.items() if key is not None} for row in reader]
    if "epoch" not in columns:
        found = f"columns {columns}" if columns else "an empty file"
        raise ResultsFileError(path, "epoch", "a CSV header with an 'epoch' column", found)
    return columns, rows


def _cell_number(text: str, path: PathLike, column: str, line: int) -> Optional[float]:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ResultsFileError(path, column, "a number or an empty cell", f"{text!r} on line {line}") from None
    return value if math.isfinite(value) else None


def metric_series(
    rows: Sequence[Mapping[str, str]], column: str, x_column: str = "epoch", path: PathLike = "metrics.csv"
) -> Tuple[List[float], List[float]]:
    """(x, y) of the rows where both ``x_column`` and ``column`` hold a finite number.

    Sparse columns (evaluation metrics, logged every N epochs) give only their logged points;
    a column absent from the file gives two empty lists.
    """
    xs: List[float] = []
    ys: List[float] = []
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        y = _cell_number(row.get(column, ""), path, column, line)
        x = _cell_number(row.get(x_column, ""), path, x_column, line)
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def _piecewise_linear(xp: Sequence[float], fp: Sequence[float]) -> Any:
    """x → f(x) through the points, extended linearly past both ends (a secondary axis needs all x)."""
    import numpy as np

    xp_arr = np.asarray(xp, dtype=float)
    fp_arr = np.asarray(fp, dtype=float)
    left = (fp_arr[1] - fp_arr[0]) / (xp_arr[1] - xp_arr[0])
    right = (fp_arr[-1] - fp_arr[-2]) / (xp_arr[-1] - xp_arr[-2])

    def evaluate(x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        y = np.interp(x, xp_arr, fp_arr)
        y = np.where(x < xp_arr[0], fp_arr[0] + (x - xp_arr[0]) * left, y)
        return np.where(x > xp_arr[-1], fp_arr[-1] + (x - xp_arr[-1]) * right, y)

    return evaluate


def _add_env_steps_axis(axes: Any, epochs: List[float], steps: List[float]) -> None:
    """A top x axis in env steps, when epoch → env_steps is strictly increasing (invertible)."""
    from matplotlib.ticker import EngFormatter

    increasing = all(b > a for a, b in zip(epochs, epochs[1:])) and all(b > a for a, b in zip(steps, steps[1:]))
    if len(epochs) < 2 or not increasing:
        return
    top = axes.secondary_xaxis("top", functions=(_piecewise_linear(epochs, steps), _piecewise_linear(steps, epochs)))
    top.set_xlabel("env steps")
    top.xaxis.set_major_formatter(EngFormatter())


def plot_training_curves(metrics_csv: PathLike, out_png: PathLike) -> Path:
    """2×2 panels of :data:`TRAINING_PANELS` against epoch (env steps on a top axis), as a PNG.

    Dense columns are lines; sparse ones (evaluation epochs only) are points with markers.
    A panel whose column is absent (or has no number yet) says "not logged yet".
    Returns ``out_png`` (:data:`TRAINING_CURVES_SIZE_IN` at :data:`DPI`).
    """
    columns, rows = read_metrics_csv(metrics_csv)
    epochs_with_steps, steps = metric_series(rows, "env_steps", path=metrics_csv)
    all_epochs = metric_series(rows, "epoch", path=metrics_csv)[0]
    figure = _new_figure(TRAINING_CURVES_SIZE_IN)
    figure.suptitle(
        f"Training curves: {Path(metrics_csv).parent.name} ({len(rows)} epoch{'' if len(rows) == 1 else 's'})"
    )
    for axes, (column, title, y_label) in zip(figure.subplots(2, 2).flat, TRAINING_PANELS):
        xs, ys = metric_series(rows, column, path=metrics_csv) if column in columns else ([], [])
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("epoch")
        axes.set_ylabel(y_label)
        if not xs:
            _say_in_panel(axes, NOT_LOGGED)
            continue
        sparse = len(xs) < len(rows) or len(xs) == 1
        axes.plot(xs, ys, marker="o" if sparse else None, markersize=4, linewidth=1.2)
        if column == "Eval/success_rate":
            axes.set_ylim(min(-0.02, min(ys)), max(1.02, max(ys)))  # 0..1, unless a value is outside
        axes.grid(True, alpha=0.3)
        # One epoch range for all panels, so sparse evaluation points line up with the training curves.
        pad = max(0.5, 0.03 * (max(all_epochs) - min(all_epochs)))
        axes.set_xlim(min(all_epochs) - pad, max(all_epochs) + pad)
        _add_env_steps_axis(axes, epochs_with_steps, steps)
    return _save_png(figure, out_png)


# --- per-motion plots ---------------------------------------------------------------------


def _field(row: Mapping[str, Any], name: str, index: int) -> Any:
    if name not in row:
        raise ValueError(f"per-motion row {index} (motion_id={row.get('motion_id', '?')!r}) has no {name!r}")
    return row[name]


def plot_error_histogram(rows: Sequence[Mapping[str, Any]], out_png: PathLike) -> Path:
    """Histogram of per-motion ``e_g_mpjpe`` (mm), succeeded and failed motions stacked in two colours.

    A dashed line marks the median over all motions; the legend gives the counts. Non-finite
    errors are left out (counted in the title). Returns ``out_png`` (:data:`ERROR_HISTOGRAM_SIZE_IN`).
    """
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    succeeded: List[float] = []
    failed: List[float] = []
    non_finite = 0
    for index, row in enumerate(rows):
        error_mm = float(_field(row, "e_g_mpjpe", index))
        if not math.isfinite(error_mm):
            non_finite += 1
        elif _field(row, "success", index):
            succeeded.append(error_mm)
        else:
            failed.append(error_mm)
    every = succeeded + failed
    figure = _new_figure(ERROR_HISTOGRAM_SIZE_IN)
    axes = figure.subplots()
    title = f"Per-motion global MPJPE ({len(rows)} motions"
    axes.set_title(title + (f", {non_finite} non-finite not shown)" if non_finite else ")"))
    axes.set_xlabel("E_g-mpjpe, mean global body position error (mm)")
    axes.set_ylabel("motions (count)")
    if not every:
        _say_in_panel(axes, "no motions" if not rows else "no finite errors")
        return _save_png(figure, out_png)
    edges = np.histogram_bin_edges(every, bins=min(30, max(5, int(math.ceil(math.sqrt(len(every)))))))
    groups = [
        (succeeded, SUCCESS_COLOUR, f"succeeded ({len(succeeded)})"),
        (failed, FAILED_COLOUR, f"failed ({len(failed)})"),
    ]
    present = [group for group in groups if group[0]]
    axes.hist(
        [values for values, _, _ in present],
        bins=edges,
        stacked=True,
        color=[colour for _, colour, _ in present],
        label=[label for _, _, label in present],
        edgecolor="white",
        linewidth=0.5,
    )
    median = float(np.median(every))
    axes.axvline(median, color="black", linestyle="--", linewidth=1.2, label=f"median {median:.1f} mm")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    axes.grid(True, axis="y", alpha=0.3)
    return _save_png(figure, out_png)


def success_by_subset(rows: Sequence[Mapping[str, Any]]) -> List[Tuple[str, int, int]]:
    """(subset label, successes, motions) per AMASS subset: named subsets A→Z, then "(unknown)" for ''."""
    counts: Dict[str, List[int]] = {}
    for index, row in enumerate(rows):
        tally = counts.setdefault(str(_field(row, "subset", index)), [0, 0])
        tally[0] += int(bool(_field(row, "success", index)))
        tally[1] += 1
    ordered = sorted(counts.items(), key=lambda item: (item[0] == "", item[0]))
    return [(name or UNKNOWN_SUBSET, successes, total) for name, (successes, total) in ordered]


def plot_success_by_subset(rows: Sequence[Mapping[str, Any]], out_png: PathLike) -> Path:
    """Horizontal bars of success rate (%) per AMASS subset, each annotated "k/n".

    Returns ``out_png`` (:func:`success_by_subset_size_in` of the number of subsets, at :data:`DPI`).
    """
    subsets = success_by_subset(rows)
    figure = _new_figure(success_by_subset_size_in(len(subsets)))
    axes = figure.subplots()
    total_ok = sum(ok for _, ok, _ in subsets)
    axes.set_title(f"Success rate by AMASS subset (all: {total_ok}/{len(rows)})")
    axes.set_xlabel("success rate (%)")
    axes.set_ylabel("AMASS subset")
    axes.set_xlim(0.0, 115.0)  # room for the "k/n" label right of a 100 % bar
    axes.set_xticks([0, 20, 40, 60, 80, 100])
    if not subsets:
        _say_in_panel(axes, "no motions")
        return _save_png(figure, out_png)
    positions = list(range(len(subsets)))
    rates = [100.0 * ok / total for _, ok, total in subsets]
    axes.barh(positions, rates, color=SUCCESS_COLOUR, height=0.6)
    axes.set_yticks(positions)
    axes.set_yticklabels([name for name, _, _ in subsets])
    axes.invert_yaxis()  # first subset on top
    for position, rate, (_, ok, total) in zip(positions, rates, subsets):
        axes.text(rate + 1.5, position, f"{ok}/{total}", va="center", fontsize=9)
    axes.grid(True, axis="x", alpha=0.3)
    return _save_png(figure, out_png)
