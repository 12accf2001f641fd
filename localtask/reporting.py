"""Conversion of ClearML ``Logger.report_*`` calls into records (no storage here).

Record types (what the logger stores):

- ``PlotRecord(title, series, iteration, figure, kind)``: ``figure`` is a JSON-serialisable plotly
  figure dict ``{"data": [...], "layout": {...}}`` (plain lists, NaN/Inf -> None). ``kind`` is one of
  histogram, scatter2d, scatter3d, line, surface, matrix, table, plotly, image.
  Tables are a plotly ``table`` trace (as ClearML) and ALSO keep their rows for an HTML table in
  ``figure["layout"]["localtask_table"] = {"columns": [...], "rows": [[...], ...]}``.
- ``SampleRecord(title, series, iteration, data, extension, mime)``: an image or media file's bytes
  (numpy / PIL images are encoded PNG with Pillow).
- ``SingleValue(name, value)``.

Matplotlib figures are rendered to PNG (ClearML also falls back to images for figures it cannot
convert): ``report_matplotlib_figure`` returns a ``SampleRecord`` (png) when ``report_image=True``,
else a ``PlotRecord(kind="image")`` whose figure holds ``layout["localtask_image"] = {"sample": True}``
as a placeholder; the PNG bytes travel alongside as ``.sample`` on the returned record list.

numpy, pandas, PIL, matplotlib and plotly are imported only when an argument is of their type.
Every function takes ClearML's argument names and defaults (``iteration=None`` means 0).
"""
from __future__ import annotations

import io
import math
import mimetypes
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .exceptions import LocaltaskError


class ReportingError(LocaltaskError, ValueError):
    """A report_* call got an argument of a kind it does not accept."""


@dataclass
class PlotRecord:
    title: str
    series: str
    iteration: int
    figure: dict
    kind: str
    #: the PNG of a matplotlib figure reported as an image plot (kind="image"), else None
    sample: "SampleRecord | None" = field(default=None, repr=False)


@dataclass
class SampleRecord:
    title: str
    series: str
    iteration: int
    data: bytes
    extension: str
    mime: str


@dataclass
class SingleValue:
    name: str
    value: float


def _tname(x: Any) -> str:
    return type(x).__name__


def _is(x: Any, module: str, name: str) -> bool:
    """isinstance against module.name only if that module is already imported (no import)."""
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod is not None else None
    return cls is not None and isinstance(x, cls)


def _plain(x: Any) -> Any:
    """numpy arrays/scalars -> lists/floats, NaN/Inf -> None, recursively."""
    if hasattr(x, "tolist") and type(x).__module__.startswith("numpy"):
        x = x.tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    if hasattr(x, "item"):
        return _plain(x.item())
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return str(x)


def _seq(fn: str, arg: str, x: Any, accepted: str) -> list:
    if _is(x, "numpy", "ndarray") or isinstance(x, (list, tuple)):
        return _plain(list(x) if not hasattr(x, "tolist") else x.tolist())
    if hasattr(x, "__iter__") and not isinstance(x, (str, bytes, dict)):
        return _plain(list(x))
    raise ReportingError(f"{fn}(...): {arg} must be {accepted}; got {_tname(x)}")


def _it(iteration: Any) -> int:
    return int(iteration or 0)


def _layout(title: str, series: str | None = None, xaxis=None, yaxis=None, extra_layout=None, **more) -> dict:
    layout: dict = {"title": {"text": title}}
    if xaxis is not None:
        layout["xaxis"] = {"title": {"text": xaxis}}
    if yaxis is not None:
        layout["yaxis"] = {"title": {"text": yaxis}}
    layout.update(more)
    if extra_layout:
        if not isinstance(extra_layout, dict):
            raise ReportingError(f"extra_layout must be a dict; got {_tname(extra_layout)}")
        layout.update(_plain(extra_layout))
    return layout


def report_single_value(name: str, value: float) -> SingleValue:
    try:
        return SingleValue(str(name), float(value))
    except (TypeError, ValueError):
        raise ReportingError(f"report_single_value(...): value must be a number; got {_tname(value)}")


def report_histogram(title, series, values, iteration=None, labels=None, xlabels=None, xaxis=None, yaxis=None,
                     mode=None, data_args=None, extra_layout=None) -> PlotRecord:
    vals = _seq("report_histogram", "values", values, "a list or numpy array of numbers")
    traces = []
    # a 2-D array is one bar trace per column (ClearML: labels name the columns)
    if vals and isinstance(vals[0], list):
        cols = list(zip(*vals))
        for i, col in enumerate(cols):
            name = labels[i] if labels and i < len(labels) else f"{series}" if len(cols) == 1 else f"{series} {i}"
            traces.append({"type": "bar", "name": name, "x": xlabels or list(range(len(col))), "y": list(col)})
    else:
        traces.append({"type": "bar", "name": labels[0] if labels else series,
                       "x": list(xlabels) if xlabels else list(range(len(vals))), "y": vals})
    if data_args:
        for t in traces:
            t.update(_plain(data_args))
    layout = _layout(title, xaxis=xaxis, yaxis=yaxis, extra_layout=extra_layout, barmode=mode or "group")
    return PlotRecord(title, series, _it(iteration), {"data": traces, "layout": layout}, "histogram")


def report_vector(title, series, values, iteration=None, labels=None, xlabels=None, xaxis=None, yaxis=None,
                  mode=None, extra_layout=None) -> PlotRecord:
    return report_histogram(title, series, values, iteration, labels=labels, xlabels=xlabels, xaxis=xaxis,
                            yaxis=yaxis, mode=mode, extra_layout=extra_layout)


def _xy(fn: str, scatter: Any, ncols: int) -> list[list]:
    pts = _seq(fn, "scatter", scatter, f"a list of ({', '.join('xyz'[:ncols])}) points or an N x {ncols} numpy array")
    for p in pts:
        if not isinstance(p, list) or len(p) != ncols:
            raise ReportingError(f"{fn}(...): scatter must be a list of {ncols}-value points; got an item {p!r}")
    return [list(c) for c in zip(*pts)] if pts else [[] for _ in range(ncols)]


def report_scatter2d(title, series, scatter, iteration=None, xaxis=None, yaxis=None, labels=None, mode="lines",
                     comment=None, extra_layout=None) -> PlotRecord:
    x, y = _xy("report_scatter2d", scatter, 2)
    trace = {"type": "scatter", "name": series, "mode": mode, "x": x, "y": y}
    if labels:
        trace["text"] = list(labels)
    layout = _layout(title, xaxis=xaxis, yaxis=yaxis, extra_layout=extra_layout)
    if comment:
        layout["annotations"] = [{"text": comment, "showarrow": False, "xref": "paper", "yref": "paper"}]
    return PlotRecord(title, series, _it(iteration), {"data": [trace], "layout": layout}, "scatter2d")


def report_scatter3d(title, series, scatter, iteration=None, xaxis=None, yaxis=None, zaxis=None, labels=None,
                     mode="markers", fill=False, comment=None, extra_layout=None) -> PlotRecord:
    x, y, z = _xy("report_scatter3d", scatter, 3)
    trace = {"type": "scatter3d", "name": series, "mode": mode, "x": x, "y": y, "z": z}
    if labels:
        trace["text"] = list(labels)
    if fill:
        trace["surfaceaxis"] = 2
    scene = {k: {"title": {"text": v}} for k, v in (("xaxis", xaxis), ("yaxis", yaxis), ("zaxis", zaxis)) if v}
    layout = _layout(title, extra_layout=extra_layout, scene=scene)
    return PlotRecord(title, series, _it(iteration), {"data": [trace], "layout": layout}, "scatter3d")


def report_line_plot(title, series, xaxis, yaxis, mode="lines", iteration=None, reverse_xaxis=False, comment=None,
                     extra_layout=None) -> PlotRecord:
    if not isinstance(series, (list, tuple)):
        raise ReportingError(f"report_line_plot(...): series must be a list of objects with name and data; got {_tname(series)}")
    traces = []
    for s in series:
        name = s.get("name") if isinstance(s, dict) else getattr(s, "name", None)
        data = s.get("data") if isinstance(s, dict) else getattr(s, "data", None)
        labels = s.get("labels") if isinstance(s, dict) else getattr(s, "labels", None)
        if name is None or data is None:
            raise ReportingError(f"report_line_plot(...): each series must have name and data; got {_tname(s)}")
        x, y = _xy("report_line_plot", data, 2)
        t = {"type": "scatter", "name": str(name), "mode": mode, "x": x, "y": y}
        if labels:
            t["text"] = list(labels)
        traces.append(t)
    layout = _layout(title, xaxis=xaxis, yaxis=yaxis, extra_layout=extra_layout)
    if reverse_xaxis:
        layout.setdefault("xaxis", {})["autorange"] = "reversed"
    first = traces[0]["name"] if traces else ""
    return PlotRecord(title, first, _it(iteration), {"data": traces, "layout": layout}, "line")


def _matrix(fn: str, matrix: Any) -> list[list]:
    m = _seq(fn, "matrix", matrix, "a 2-D list or numpy array")
    if not m or not all(isinstance(r, list) for r in m):
        raise ReportingError(f"{fn}(...): matrix must be a 2-D list or numpy array; got a {len(m)}-item 1-D sequence")
    return m


def report_confusion_matrix(title, series, matrix, iteration=None, xaxis=None, yaxis=None, xlabels=None, ylabels=None,
                            yaxis_reversed=False, comment=None, extra_layout=None) -> PlotRecord:
    z = _matrix("report_confusion_matrix", matrix)
    trace = {"type": "heatmap", "name": series, "z": z, "texttemplate": "%{z}"}
    if xlabels:
        trace["x"] = list(xlabels)
    if ylabels:
        trace["y"] = list(ylabels)
    layout = _layout(title, xaxis=xaxis, yaxis=yaxis, extra_layout=extra_layout)
    if yaxis_reversed:
        layout.setdefault("yaxis", {})["autorange"] = "reversed"
    for axis, labels in (("xaxis", xlabels), ("yaxis", ylabels)):
        if not labels:  # one tick per cell, not plotly's 0.5 steps
            layout.setdefault(axis, {}).setdefault("dtick", 1)
    return PlotRecord(title, series, _it(iteration), {"data": [trace], "layout": layout}, "matrix")


def report_matrix(title, series, matrix, iteration=None, xaxis=None, yaxis=None, xlabels=None, ylabels=None,
                  yaxis_reversed=False, extra_layout=None) -> PlotRecord:
    return report_confusion_matrix(title, series, matrix, iteration, xaxis=xaxis, yaxis=yaxis, xlabels=xlabels,
                                   ylabels=ylabels, yaxis_reversed=yaxis_reversed, extra_layout=extra_layout)


def report_surface(title, series, matrix, iteration=None, xaxis=None, yaxis=None, zaxis=None, xlabels=None,
                   ylabels=None, camera=None, comment=None, extra_layout=None) -> PlotRecord:
    z = _matrix("report_surface", matrix)
    trace = {"type": "surface", "name": series, "z": z}
    if xlabels:
        trace["x"] = list(xlabels)
    if ylabels:
        trace["y"] = list(ylabels)
    scene = {k: {"title": {"text": v}} for k, v in (("xaxis", xaxis), ("yaxis", yaxis), ("zaxis", zaxis)) if v}
    if camera:
        scene["camera"] = {"eye": dict(zip("xyz", _plain(list(camera))))}
    layout = _layout(title, extra_layout=extra_layout, scene=scene)
    return PlotRecord(title, series, _it(iteration), {"data": [trace], "layout": layout}, "surface")


def report_table(title, series, iteration=None, table_plot=None, csv=None, url=None, extra_layout=None,
                 extra_data=None) -> PlotRecord:
    given = [n for n, v in (("table_plot", table_plot), ("csv", csv), ("url", url)) if v is not None]
    if len(given) != 1:
        raise ReportingError(f"report_table(...): give exactly one of table_plot, csv, url; got {given or 'none'}")
    if url is not None:
        from .models import _local_path

        local = _local_path(url)
        if local is None:
            raise ReportingError(f"report_table(...): url {url!r} is not a local file (localtask fetches nothing "
                                 "from the network); download it and pass csv=<local path>")
        csv = local
    if csv is not None:
        if not isinstance(csv, (str, os.PathLike)) or not os.path.isfile(csv):
            given, value = ("url", url) if url is not None else ("csv", csv)
            where = (f" (no file {os.path.abspath(csv)})" if isinstance(csv, (str, os.PathLike)) else "")
            raise ReportingError(f"report_table(...): {given}={value!r} is not a local CSV file{where}; "
                                 "give the path of one (a relative path is read from the working directory)")
        import csv as csvmod
        with open(csv, newline="", encoding="utf-8") as f:
            rows = [list(r) for r in csvmod.reader(f)]
        columns, body = (rows[0], rows[1:]) if rows else ([], [])
    elif _is(table_plot, "pandas", "DataFrame"):
        df = table_plot
        columns = [str(df.index.name or "")] + [str(c) for c in df.columns]
        body = [[_plain(row[0])] + [_plain(v) for v in row[1:]] for row in df.itertuples(index=True, name=None)]
    elif isinstance(table_plot, (list, tuple)) and all(isinstance(r, (list, tuple)) for r in table_plot):
        rows = _plain(list(table_plot))
        columns, body = ([str(c) for c in rows[0]], rows[1:]) if rows else ([], [])
    else:
        raise ReportingError("report_table(...): table_plot must be a pandas DataFrame or a list of rows "
                             f"(first row the header), or use csv=<path>; got {_tname(table_plot)}")
    body = [[None if v is None else v for v in r] for r in body]
    cells = [list(c) for c in zip(*body)] if body else [[] for _ in columns]
    trace = {"type": "table", "header": {"values": columns}, "cells": {"values": cells}}
    if extra_data:
        trace.update(_plain(extra_data))
    layout = _layout(title, extra_layout=extra_layout, localtask_table={"columns": columns, "rows": body})
    return PlotRecord(title, series, _it(iteration), {"data": [trace], "layout": layout}, "table")


def report_plotly(title, series, figure, iteration=None) -> PlotRecord:
    if isinstance(figure, dict):
        fig = figure
    elif hasattr(figure, "to_plotly_json"):
        fig = figure.to_plotly_json()
    else:
        raise ReportingError(f"report_plotly(...): figure must be a plotly Figure or a dict; got {_tname(figure)}")
    fig = _plain(fig)
    fig.setdefault("data", [])
    fig.setdefault("layout", {})
    fig["layout"]["title"] = series  # as ClearML
    return PlotRecord(title, series, _it(iteration), {"data": fig["data"], "layout": fig["layout"]}, "plotly")


_MIME_EXTRA = {".webp": "image/webp", ".md": "text/markdown", ".txt": "text/plain", ".html": "text/html",
               ".htm": "text/html", ".mp4": "video/mp4", ".webm": "video/webm", ".wav": "audio/wav",
               ".mp3": "audio/mpeg", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".svg": "image/svg+xml"}


def _mime(ext: str) -> str:
    return _MIME_EXTRA.get(ext.lower()) or mimetypes.guess_type("x" + ext)[0] or "application/octet-stream"


def _png(fn: str, image: Any) -> bytes:
    try:
        from PIL import Image
    except ImportError:
        raise ReportingError(f"{fn}(...): encoding an image needs Pillow: pip install pillow")
    if _is(image, "numpy", "ndarray"):
        import numpy as np
        a = image
        if a.dtype != np.uint8:
            a = np.clip(a * 255.0 if a.size and float(np.nanmax(a)) <= 1.0 else a, 0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            raise ReportingError(f"{fn}(...): image array must be HxW, HxWx1, HxWx3 or HxWx4; got shape {a.shape}")
        image = Image.fromarray(a)
    elif not isinstance(image, Image.Image):
        raise ReportingError(f"{fn}(...): image must be a numpy array or a PIL image; got {_tname(image)}")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _remote(u: str) -> bool:
    return "://" in str(u) and not str(u).startswith("file://")


def report_image(title, series, iteration=None, local_path=None, image=None, matrix=None, max_image_history=None,
                 delete_after_upload=False, url=None) -> SampleRecord:
    if matrix is not None and image is None:
        image = matrix
    sample = _path_or_url("report_image", title, series, iteration,
                          {"local_path": local_path, "image": image, "url": url})
    if sample is not None:
        return sample
    return SampleRecord(title, series, _it(iteration), _png("report_image", image), "png", "image/png")


#: the mime type of a debug sample that is a link to a remote file (its bytes: the URL)
LINK_MIME = "text/uri-list"


def _link_sample(title, series, iteration, url) -> SampleRecord:
    return SampleRecord(title, series, _it(iteration), str(url).encode("utf-8"), "url", LINK_MIME)


def _path_or_url(fn, title, series, iteration, sources: dict) -> SampleRecord | None:
    """Checks that exactly one of ``sources`` is given; a ``local_path`` or ``url`` becomes the
    sample (a remote url a link, as ClearML: nothing is downloaded). None: the other source."""
    given = [name for name, value in sources.items() if value is not None]
    if len(given) != 1:
        raise ReportingError(f"{fn}(...): give exactly one of {', '.join(sources)}; got {given or 'none'}")
    url, local_path = sources["url"], sources["local_path"]
    if url is not None:
        if _remote(url):
            return _link_sample(title, series, iteration, url)
        local_path = str(url)[len("file://"):] if str(url).startswith("file://") else url
    if local_path is not None:
        return _file_sample(fn, title, series, iteration, local_path)
    return None


def _file_sample(fn, title, series, iteration, path) -> SampleRecord:
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ReportingError(f"{fn}(...): local_path must be the path of an existing file; got {path!r}")
    ext = os.path.splitext(str(path))[1]
    with open(path, "rb") as f:
        data = f.read()
    return SampleRecord(title, series, _it(iteration), data, ext.lstrip(".").lower(), _mime(ext))


def report_media(title, series, iteration=None, local_path=None, stream=None, file_extension=None, max_history=None,
                 delete_after_upload=False, url=None) -> SampleRecord:
    sample = _path_or_url("report_media", title, series, iteration,
                          {"local_path": local_path, "stream": stream, "url": url})
    if sample is not None:
        return sample
    if not file_extension:
        raise ReportingError("report_media(...): stream needs file_extension= (e.g. '.html', '.txt', '.mp4')")
    if not hasattr(stream, "read"):
        raise ReportingError(f"report_media(...): stream must be a file-like object (io.BytesIO / io.StringIO); got {_tname(stream)}")
    data = stream.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    ext = file_extension if file_extension.startswith(".") else "." + file_extension
    return SampleRecord(title, series, _it(iteration), bytes(data), ext.lstrip(".").lower(), _mime(ext))


#: Logger.matplotlib_force_report_non_interactive(True): every figure is kept as an image
FORCE_NON_INTERACTIVE = False


def report_matplotlib_figure(title, series, figure, iteration=None, report_image=False, report_interactive=True):
    """A matplotlib Figure (or the pyplot module: its current figure) as a plot.

    A simple figure (one axes of lines, scatters, bars: see :mod:`localtask.mpl_plotly`) with
    ``report_interactive`` becomes an interactive PlotRecord(kind="matplotlib") holding the plotly
    figure, as ClearML. Otherwise a PNG: with report_image=True a SampleRecord (a debug sample, as
    ClearML), else a PlotRecord(kind="image") whose figure is a placeholder
    (``layout["localtask_image"]``) and whose ``.sample`` holds the PNG.
    """
    fig = figure
    if getattr(fig, "__name__", "") == "matplotlib.pyplot":
        fig = fig.gcf()
    if not _is(fig, "matplotlib.figure", "Figure"):
        raise ReportingError(f"report_matplotlib_figure(...): figure must be a matplotlib Figure or pyplot; got {_tname(figure)}")
    if report_interactive and not report_image and not FORCE_NON_INTERACTIVE:
        from .mpl_plotly import to_plotly

        converted = to_plotly(fig)
        if converted is not None:
            return PlotRecord(title, series, _it(iteration), converted, "matplotlib")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    sample = SampleRecord(title, series, _it(iteration), buf.getvalue(), "png", "image/png")
    if report_image:
        return sample
    w, h = fig.get_size_inches() * fig.dpi
    figure_dict = {"data": [], "layout": {"title": {"text": title}, "width": int(w), "height": int(h),
                                          "localtask_image": {"sample": True, "mime": "image/png"}}}
    return PlotRecord(title, series, _it(iteration), figure_dict, "image", sample=sample)
