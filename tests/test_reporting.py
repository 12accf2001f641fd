"""localtask.reporting: every ClearML report_* call -> a record (figure content, PNG bytes, bad input)."""
import io
import json
import subprocess
import sys

import pytest

from localtask import reporting as r


def _png_ok(data):
    Image = pytest.importorskip("PIL.Image")
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    return im


def test_import_is_lazy():
    code = ("import sys, localtask.reporting; "
            "print([m for m in ('numpy','pandas','PIL','matplotlib','plotly') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_single_value():
    assert r.report_single_value("acc", 0.9) == r.SingleValue("acc", 0.9)
    with pytest.raises(r.ReportingError, match="value must be a number"):
        r.report_single_value("acc", "x")


def test_histogram_numpy_nan():
    np = pytest.importorskip("numpy")
    rec = r.report_histogram("h", "s", np.array([1.0, np.nan, 3.0]), iteration=2, xaxis="bin", yaxis="n")
    assert rec.kind == "histogram" and rec.iteration == 2
    t = rec.figure["data"][0]
    assert t["type"] == "bar" and t["y"] == [1.0, None, 3.0] and t["x"] == [0, 1, 2]
    assert rec.figure["layout"]["xaxis"]["title"]["text"] == "bin"
    assert rec.figure["layout"]["barmode"] == "group"
    json.dumps(rec.figure)
    assert r.report_vector("v", "s", [1, 2]).figure["data"][0]["y"] == [1, 2]
    with pytest.raises(r.ReportingError, match="values must be"):
        r.report_histogram("h", "s", 3)


def test_scatter2d_3d_line():
    np = pytest.importorskip("numpy")
    rec = r.report_scatter2d("t", "s", np.array([[0, 1], [1, 4]]), xaxis="x", yaxis="y")
    assert rec.figure["data"][0] == {"type": "scatter", "name": "s", "mode": "lines", "x": [0, 1], "y": [1, 4]}
    rec = r.report_scatter3d("t", "s", [(1, 2, 3), (4, 5, 6)], zaxis="z")
    d = rec.figure["data"][0]
    assert d["type"] == "scatter3d" and d["z"] == [3, 6] and d["mode"] == "markers"
    assert rec.figure["layout"]["scene"]["zaxis"]["title"]["text"] == "z"
    rec = r.report_line_plot("t", [{"name": "a", "data": [[0, 1], [1, 2]]}], xaxis="x", yaxis="y")
    assert rec.kind == "line" and rec.figure["data"][0]["name"] == "a" and rec.figure["data"][0]["y"] == [1, 2]
    with pytest.raises(r.ReportingError, match="scatter must be"):
        r.report_scatter2d("t", "s", [(1, 2, 3)])
    with pytest.raises(r.ReportingError, match="series must be a list"):
        r.report_line_plot("t", 5, xaxis="x", yaxis="y")


def test_matrix_surface():
    np = pytest.importorskip("numpy")
    rec = r.report_confusion_matrix("cm", "s", np.eye(2), xlabels=["a", "b"], yaxis_reversed=True)
    d = rec.figure["data"][0]
    assert d["type"] == "heatmap" and d["z"] == [[1.0, 0.0], [0.0, 1.0]] and d["x"] == ["a", "b"]
    assert rec.figure["layout"]["yaxis"]["autorange"] == "reversed"
    assert r.report_matrix("m", "s", [[1, 2], [3, 4]]).figure["data"][0]["z"] == [[1, 2], [3, 4]]
    rec = r.report_surface("sf", "s", np.ones((2, 3)), zaxis="h")
    assert rec.kind == "surface" and rec.figure["data"][0]["type"] == "surface"
    with pytest.raises(r.ReportingError, match="2-D"):
        r.report_surface("sf", "s", [1, 2])


def test_table_dataframe_rows_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, float("nan")]}, index=pd.Index(["x", "y"], name="id"))
    rec = r.report_table("t", "s", iteration=1, table_plot=df)
    tbl = rec.figure["layout"]["localtask_table"]
    assert tbl == {"columns": ["id", "a", "b"], "rows": [["x", 1, 0.5], ["y", 2, None]]}
    assert isinstance(tbl["rows"][0][1], int)
    assert rec.figure["data"][0]["type"] == "table"
    assert rec.figure["data"][0]["header"]["values"] == ["id", "a", "b"]
    json.dumps(rec.figure)
    rec = r.report_table("t", "s", table_plot=[["n", "v"], ["a", 1]])
    assert rec.figure["layout"]["localtask_table"] == {"columns": ["n", "v"], "rows": [["a", 1]]}
    p = tmp_path / "t.csv"
    p.write_text("n,v\na,1\n")
    assert r.report_table("t", "s", csv=str(p)).figure["layout"]["localtask_table"]["rows"] == [["a", "1"]]
    # url= (ClearML's) of a local file or file:// URL reads it; a remote one is refused, naming it
    for url in (p, str(p), p.as_uri()):
        assert r.report_table("t", "s", url=url).figure["layout"]["localtask_table"]["rows"] == [["a", "1"]]
    with pytest.raises(r.ReportingError, match="'https://x/t.csv' is not a local file.*csv=<local path>"):
        r.report_table("t", "s", url="https://x/t.csv")
    with pytest.raises(r.ReportingError, match=r"url='missing.csv' is not a local CSV file \(no file /"):
        r.report_table("t", "s", url="missing.csv")
    with pytest.raises(r.ReportingError, match="table_plot must be a pandas DataFrame.*got int"):
        r.report_table("t", "s", table_plot=3)
    with pytest.raises(r.ReportingError, match="exactly one"):
        r.report_table("t", "s")


def test_plotly():
    go = pytest.importorskip("plotly.graph_objects")
    rec = r.report_plotly("t", "s", go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))
    assert rec.figure["data"][0]["type"] == "scatter" and list(rec.figure["data"][0]["y"]) == [3, 4]
    assert rec.figure["layout"]["title"] == "s"
    json.dumps(rec.figure)
    with pytest.raises(r.ReportingError, match="figure must be"):
        r.report_plotly("t", "s", 3)


def test_images(tmp_path):
    np = pytest.importorskip("numpy")
    Image = pytest.importorskip("PIL.Image")
    rec = r.report_image("i", "s", image=np.zeros((4, 5, 3), dtype=np.uint8))
    assert rec.mime == "image/png" and _png_ok(rec.data).size == (5, 4)
    rec = r.report_image("i", "s", image=Image.new("RGB", (3, 2)))
    assert _png_ok(rec.data).size == (3, 2)
    p = tmp_path / "a.png"
    Image.new("L", (2, 2)).save(p)
    assert r.report_image("i", "s", local_path=str(p)).extension == "png"
    link = r.report_image("i", "s", url="https://x/y.png", iteration=4)  # as ClearML: a link, not a download
    assert (link.mime, link.data, link.iteration) == (r.LINK_MIME, b"https://x/y.png", 4)
    assert r.report_media("m", "s", url="https://x/v.mp4").data == b"https://x/v.mp4"
    with pytest.raises(r.ReportingError, match="numpy array or a PIL image"):
        r.report_image("i", "s", image="nope")


def test_media(tmp_path):
    rec = r.report_media("m", "s", stream=io.StringIO("<b>hi</b>"), file_extension="html")
    assert rec.data == b"<b>hi</b>" and rec.mime == "text/html"
    p = tmp_path / "a.txt"
    p.write_text("x")
    assert r.report_media("m", "s", local_path=str(p)).mime == "text/plain"
    with pytest.raises(r.ReportingError, match="file_extension"):
        r.report_media("m", "s", stream=io.BytesIO(b"x"))


def test_matplotlib():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    rec = r.report_matplotlib_figure("f", "s", fig)
    assert rec.kind == "matplotlib" and rec.figure["data"][0]["y"] == [1.0, 2.0]  # converted
    rec = r.report_matplotlib_figure("f", "s", fig, report_interactive=False)
    assert rec.kind == "image" and rec.figure["layout"]["localtask_image"]["sample"]
    _png_ok(rec.sample.data)
    smp = r.report_matplotlib_figure("f", "s", plt, report_image=True)
    _png_ok(smp.data)
    plt.close("all")
    with pytest.raises(r.ReportingError, match="matplotlib Figure"):
        r.report_matplotlib_figure("f", "s", 3)


def test_mpl_capture_show_savefig(tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from localtask import mpl_capture
    got = []
    mpl_capture.install(lambda t, s, f, i: got.append((t, i, r.report_matplotlib_figure(t, s, f, i))))
    mpl_capture.install(lambda t, s, f, i: got.append((t, i, r.report_matplotlib_figure(t, s, f, i))))  # idempotent
    try:
        fig, ax = plt.subplots()
        ax.set_title("loss")
        fig.savefig(tmp_path / "a.png")
        plt.show()
        assert (tmp_path / "a.png").stat().st_size > 0
        assert [(t, i) for t, i, _ in got] == [("loss", 0), ("loss", 1)]
        _png_ok(got[0][2].sample.data)
    finally:
        mpl_capture.uninstall()
        plt.close("all")
    fig.savefig(tmp_path / "b.png")
    assert len(got) == 2


def test_mpl_capture_on_later_import():
    pytest.importorskip("matplotlib")
    code = ("import sys; from localtask import mpl_capture; got=[]; "
            "mpl_capture.install(lambda t,s,f,i: got.append(t)); "
            "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
            "f=plt.figure(); f.suptitle('x'); import io; f.savefig(io.BytesIO()); print(got)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['x']"
