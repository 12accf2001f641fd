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
    ax.scatter([1, 2], [1, 2], c=[0.0, 1.0], cmap="viridis", alpha=0.5)  # ClearML's matplotlib example
    mapped = to_plotly(fig)["data"][0]
    assert mapped["marker"]["color"] == ["#440154", "#fde725"] and mapped["opacity"] == 0.5

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


def _step(ax):
    ax.step([1, 2, 3], [1, 3, 2])


def _empty(ax):
    ax.set_title("nothing drawn")


@pytest.mark.parametrize("draw", [_imshow, _text, _errorbar, _fill, _step, _empty])
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


FIGURES = """
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from localtask import Task

task = Task.init(project_name="mpl", task_name="figures")
params = task.connect({"points": 20})
rng = np.random.default_rng(0)
plt.scatter(rng.random(params["points"]), rng.random(params["points"]), c=rng.random(params["points"]), alpha=0.5)
plt.show()
plt.close("all")
x = np.linspace(0, 10, params["points"])
plt.plot(x, np.sin(x), "o", color="black")
task.logger.report_matplotlib_figure(title="sine", series="dots", iteration=3, figure=plt)
plt.close("all")
plt.imshow(np.eye(16))
plt.title("eye")
plt.show()
print("TASK_ID=" + task.id)
"""


@pytest.mark.slow
def test_figures_of_a_script_are_reproduced_by_a_clone_run_by_the_worker(tmp_path, monkeypatch):
    from helpers_worker import clone_and_enqueue, make_repo, recorded_id, run_script, run_to_completion
    from localtask import Task

    home = tmp_path / "home"
    monkeypatch.setenv("LOCALTASK_HOME", str(home))
    repo = make_repo(tmp_path / "repo", {"figures.py": FIGURES})
    original = Task.get_task(recorded_id(run_script(repo / "figures.py", home=home)), home=home)

    def plots(task):
        return {(p["title"], p["series"], p["iteration"]): p for p in task.get_reported_plots()}

    first = plots(original)
    assert {k: p["kind"] for k, p in first.items()} == {
        ("Figure 1", "Figure 1", 0): "matplotlib", ("sine", "dots", 3): "matplotlib", ("eye", "eye", 0): "image"}
    assert len(first[("sine", "dots", 3)]["figure"]["data"][0]["y"]) == 20
    clone = clone_and_enqueue(original.id, {"General/points": 5})
    run_to_completion(home, clone.id)
    again = plots(Task.get_task(clone.id, home=home))
    assert {k: p["kind"] for k, p in again.items()} == {k: p["kind"] for k, p in first.items()}
    assert len(again[("sine", "dots", 3)]["figure"]["data"][0]["y"]) == 5  # the edited value reached it
    same = clone_and_enqueue(original.id)
    run_to_completion(home, same.id)
    assert {k: p["figure"] for k, p in plots(Task.get_task(same.id, home=home)).items() if p["kind"] != "image"} \
        == {k: p["figure"] for k, p in first.items() if p["kind"] != "image"}
