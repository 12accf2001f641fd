"""Simple matplotlib figures become interactive plotly figures (as ClearML reports them); every
other figure stays an image. Real matplotlib figures, drawn with the Agg backend."""
from __future__ import annotations

import datetime
import json

import pytest

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from localtask import reporting  # noqa: E402
from localtask.mpl_plotly import to_plotly  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_lines_keep_values_labels_styles_and_axes():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.5, 0.25, float("nan")], "r--o", label="train", linewidth=2)
    ax.plot([0, 1, 2], [0.6, 0.4, 0.3], color="#00ff00", linestyle=":")
    ax.set(title="loss", xlabel="epoch", ylabel="value", yscale="log", xlim=(0, 2))
    ax.legend()
    figure = to_plotly(fig)
    json.dumps(figure)  # stored as JSON: no numpy left in it
    first, second = figure["data"]
    assert (first["x"], first["y"]) == ([0.0, 1.0, 2.0], [0.5, 0.25, None])  # NaN: a gap
    assert (first["name"], first["showlegend"], first["mode"]) == ("train", True, "lines+markers")
    assert first["line"] == {"color": "#ff0000", "width": 2.0, "dash": "dash"}
    assert first["marker"]["symbol"] == "circle"
    assert (second["name"], second["showlegend"], second["mode"], second["line"]["dash"]) == \
        ("", False, "lines", "dot")
    layout = figure["layout"]
    assert layout["title"]["text"] == "loss" and layout["showlegend"] is True
    assert layout["xaxis"]["title"]["text"] == "epoch" and layout["xaxis"]["range"] == [0.0, 2.0]
    assert layout["yaxis"]["type"] == "log"


def test_scatter_bars_histogram_categories_and_dates():
    fig, ax = plt.subplots()
    ax.scatter([1, 2, 3], [3, 1, 2], s=[4, 16, 36], c="blue", label="points")
    ax.bar([1, 2], [5, 6], bottom=[1, 0], color=["red", "green"], label="counts")
    figure = to_plotly(fig)
    scatter, bars = figure["data"]
    assert scatter["mode"] == "markers" and scatter["y"] == [3.0, 1.0, 2.0]
    assert scatter["marker"] == {"color": "#0000ff", "size": [2.0, 4.0, 6.0]}
    assert (bars["type"], bars["x"], bars["y"], bars["base"]) == ("bar", [1.0, 2.0], [5.0, 6.0], [1.0, 0.0])
    assert bars["marker"]["color"] == ["#ff0000", "#008000"]

    fig, ax = plt.subplots()
    counts, _, _ = ax.hist([1, 2, 2, 3, 3, 3], bins=3)
    assert to_plotly(fig)["data"][0]["y"] == [float(c) for c in counts]

    fig, ax = plt.subplots()
    ax.barh(["cat", "dog"], [3, 4])
    bars = to_plotly(fig)
    assert bars["data"][0]["orientation"] == "h" and bars["data"][0]["x"] == [3.0, 4.0]
    assert bars["layout"]["yaxis"]["ticktext"] == ["cat", "dog"]

    fig, ax = plt.subplots()
    ax.plot([datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)], [1, 2])
    dated = to_plotly(fig)
    assert dated["layout"]["xaxis"]["type"] == "date"
    assert dated["data"][0]["x"][0].startswith("2026-01-01T00:00:00")


def _imshow(ax):
    ax.imshow(np.eye(3))


def _text(ax):
    ax.plot([1, 2])
    ax.text(1, 1, "note")


def _errorbar(ax):
    ax.errorbar([1, 2], [1, 2], yerr=[0.1, 0.2])


def _fill(ax):
    ax.fill_between([1, 2], [0, 0], [1, 2])


def _colormap(ax):
    ax.scatter([1, 2], [1, 2], c=[0.1, 0.9], cmap="viridis")


def _step(ax):
    ax.step([1, 2, 3], [1, 3, 2])


def _empty(ax):
    ax.set_title("nothing drawn")


@pytest.mark.parametrize("draw", [_imshow, _text, _errorbar, _fill, _colormap, _step, _empty])
def test_other_figures_stay_images(draw):
    fig, ax = plt.subplots()
    draw(ax)
    assert to_plotly(fig) is None
    record = reporting.report_matplotlib_figure("t", "s", fig)
    assert record.kind == "image" and record.sample.data.startswith(b"\x89PNG")


def test_several_axes_or_a_twin_axis_stay_images():
    fig, (left, right) = plt.subplots(1, 2)
    left.plot([1, 2])
    right.plot([2, 1])
    assert to_plotly(fig) is None
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    ax.twinx().plot([3, 4])
    assert to_plotly(fig) is None


def test_report_matplotlib_figure_converts_unless_asked_for_an_image():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [2, 4, 8])
    assert reporting.report_matplotlib_figure("t", "s", fig).kind == "matplotlib"
    assert reporting.report_matplotlib_figure("t", "s", fig, report_interactive=False).kind == "image"
    sample = reporting.report_matplotlib_figure("t", "s", fig, report_image=True)
    assert sample.mime == "image/png"  # report_image: a debug sample, as ClearML
