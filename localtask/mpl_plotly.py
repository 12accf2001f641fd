"""A matplotlib figure as an interactive plotly figure, when it is a simple one.

ClearML reports simple matplotlib figures as interactive plots and others as images; this
does the same by walking the figure's artists: one axes holding lines (``plot``), scatters
(``scatter``) and bars (``bar``, ``barh``, ``hist``), with their labels, colours, styles,
log scales, limits, category and date axes. Anything else (images, texts, patches that are not
bars, error bars, fills, twin axes, subplots) gives None: the caller keeps the
figure as an image. plotly's own ``mpl_to_plotly`` is deprecated and plotly is no run-time
dependency of localtask, so neither is used here.
"""
from __future__ import annotations

import math
from typing import Any

_DASHES = {"-": "solid", "--": "dash", ":": "dot", "-.": "dashdot"}
_SYMBOLS = {"o": "circle", "s": "square", "^": "triangle-up", "v": "triangle-down", "<": "triangle-left",
            ">": "triangle-right", "D": "diamond", "d": "diamond", "x": "x", "+": "cross", "*": "star",
            "p": "pentagon", "h": "hexagon", ".": "circle"}


class NotSimple(Exception):
    """The figure holds something this converter does not draw: keep it as an image."""


def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color, keep_alpha=False)


def _floats(values: Any) -> list[float | None]:
    out = []
    for v in values:
        f = float(v)
        out.append(f if math.isfinite(f) else None)  # plotly draws a gap, as matplotlib does
    return out


class _Axis:
    """How one axis maps numbers to what plotly shows: numbers, categories or dates."""

    def __init__(self, axis: Any):
        from matplotlib import category, dates

        converter = axis.get_converter() if hasattr(axis, "get_converter") else axis.converter
        self.kind = "linear"
        self.categories: dict[float, str] = {}
        if converter is None:
            return
        if isinstance(converter, category.StrCategoryConverter):
            self.kind = "category"
            self.categories = {float(v): str(k) for k, v in axis.get_units()._mapping.items()}
        elif isinstance(converter, (dates.DateConverter, dates.ConciseDateConverter, dates._SwitchableDateConverter)):
            self.kind = "date"
        else:
            raise NotSimple(f"axis units {type(converter).__name__}")

    def values(self, numbers: Any) -> list[Any]:
        values = _floats(numbers)
        if self.kind == "date":
            from matplotlib import dates

            return [None if v is None else dates.num2date(v).isoformat() for v in values]
        return values

    def layout(self, ax_axis: Any, label: str, scale: str, limits: tuple[float, float]) -> dict[str, Any]:
        out: dict[str, Any] = {"title": {"text": label}} if label else {}
        if scale == "log":
            out["type"] = "log"
            if min(limits) > 0:
                out["range"] = [math.log10(limits[0]), math.log10(limits[1])]
        elif scale != "linear":
            raise NotSimple(f"{scale} scale")
        elif self.kind == "date":
            out["type"] = "date"
            out["range"] = self.values(limits)
        else:
            out["range"] = list(_floats(limits))
            if self.kind == "category":
                ticks = sorted(self.categories)
                out.update(tickmode="array", tickvals=ticks, ticktext=[self.categories[t] for t in ticks])
        if any(line.get_visible() for line in ax_axis.get_gridlines()):
            out["showgrid"] = True
        else:
            out["showgrid"] = False
        return out


def _label(artist: Any) -> tuple[str, bool]:
    label = str(artist.get_label() or "")
    shown = bool(label) and not label.startswith("_")  # "_child0": matplotlib's unnamed artists
    return (label if shown else ""), shown


def _line(line: Any, x: _Axis, y: _Axis) -> dict[str, Any]:
    if line.get_drawstyle() not in ("default", None):
        raise NotSimple("stepped line")
    style, marker = line.get_linestyle(), line.get_marker()
    has_line = style not in ("None", "none", " ", "")
    has_marker = marker not in (None, "None", "none", " ", "", ",")
    if not (has_line or has_marker):
        raise NotSimple("invisible line")
    name, legend = _label(line)
    trace: dict[str, Any] = {"type": "scatter", "x": x.values(line.get_xdata(orig=False)),
                             "y": y.values(line.get_ydata(orig=False)), "name": name, "showlegend": legend,
                             "mode": "+".join(m for m, on in (("lines", has_line), ("markers", has_marker)) if on)}
    if has_line:
        trace["line"] = {"color": _hex(line.get_color()), "width": float(line.get_linewidth()),
                         "dash": _DASHES.get(style, "solid")}
    if has_marker:
        trace["marker"] = {"color": _hex(line.get_markerfacecolor()), "size": float(line.get_markersize()),
                           "symbol": _SYMBOLS.get(str(marker), "circle")}
    if line.get_alpha() is not None:
        trace["opacity"] = float(line.get_alpha())
    return trace


def _scatter(coll: Any, x: _Axis, y: _Axis) -> dict[str, Any]:
    if coll.get_array() is not None:
        coll.update_scalarmappable()  # colour-mapped values -> the colours matplotlib draws
    offsets = coll.get_offsets()
    colors = [_hex(c) for c in coll.get_facecolors()] or ["#1f77b4"]
    sizes = [math.sqrt(float(s)) for s in coll.get_sizes()] or [6.0]  # matplotlib: area; plotly: diameter
    name, legend = _label(coll)
    trace = {"type": "scatter", "mode": "markers", "x": x.values(offsets[:, 0]), "y": y.values(offsets[:, 1]),
             "name": name, "showlegend": legend,
             "marker": {"color": colors[0] if len(colors) == 1 else colors,
                        "size": sizes[0] if len(sizes) == 1 else sizes}}
    if coll.get_alpha() is not None:
        trace["opacity"] = float(coll.get_alpha())
    return trace


def _bars(container: Any, x: _Axis, y: _Axis) -> dict[str, Any]:
    patches = list(container.patches)
    horizontal = getattr(container, "orientation", "vertical") == "horizontal"
    name, legend = _label(container)
    colors = [_hex(p.get_facecolor()) for p in patches]
    color: Any = colors[0] if len(set(colors)) == 1 else colors
    if horizontal:
        return {"type": "bar", "orientation": "h", "y": y.values(p.get_y() + p.get_height() / 2 for p in patches),
                "x": _floats(p.get_width() for p in patches), "base": _floats(p.get_x() for p in patches),
                "width": _floats(p.get_height() for p in patches), "name": name, "showlegend": legend,
                "marker": {"color": color}}
    return {"type": "bar", "x": x.values(p.get_x() + p.get_width() / 2 for p in patches),
            "y": _floats(p.get_height() for p in patches), "base": _floats(p.get_y() for p in patches),
            "width": _floats(p.get_width() for p in patches), "name": name, "showlegend": legend,
            "marker": {"color": color}}


def _check_simple(fig: Any, ax: Any) -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.container import BarContainer

    suptitle = getattr(fig, "_suptitle", None)
    if any(t is not suptitle for t in fig.texts) or fig.images or fig.patches or fig.lines:
        raise NotSimple("figure-level artists")
    if ax.texts or ax.images or ax.tables or ax.artists or ax.child_axes:
        raise NotSimple("texts, images, tables or inset axes")
    if any(not isinstance(c, BarContainer) for c in ax.containers):
        raise NotSimple("error bars or stems")
    bar_patches = {id(p) for c in ax.containers for p in c.patches}
    if any(id(p) not in bar_patches for p in ax.patches):
        raise NotSimple("patches that are not bars")
    if any(type(c) is not PathCollection for c in ax.collections):
        raise NotSimple("collections other than scatters")


def to_plotly(fig: Any) -> dict[str, Any] | None:
    """``{"data", "layout"}`` drawing ``fig`` with plotly, or None when it is not a simple figure
    (see the module's docstring). Never raises for a figure it cannot convert."""
    try:
        axes = [a for a in fig.axes if a.get_visible()]
        if len(axes) != 1 or len(fig.axes) != 1:
            return None
        ax = axes[0]
        _check_simple(fig, ax)
        x, y = _Axis(ax.xaxis), _Axis(ax.yaxis)
        data = [_line(line, x, y) for line in ax.lines if line.get_visible()]
        data += [_scatter(c, x, y) for c in ax.collections if c.get_visible()]
        data += [_bars(c, x, y) for c in ax.containers]
        if not data:
            return None
        suptitle = getattr(fig, "_suptitle", None)
        title = ax.get_title() or (suptitle.get_text() if suptitle is not None else "")
        layout: dict[str, Any] = {  # no width or height: the page fits the chart to its card
            "title": {"text": title},
            "xaxis": x.layout(ax.xaxis, ax.get_xlabel(), ax.get_xscale(), ax.get_xlim()),
            "yaxis": y.layout(ax.yaxis, ax.get_ylabel(), ax.get_yscale(), ax.get_ylim()),
            "showlegend": ax.get_legend() is not None, "barmode": "overlay",
            "localtask_source": "matplotlib",
        }
        return {"data": data, "layout": layout}
    except NotSimple:
        return None
    except Exception:  # an artist of a newer matplotlib read differently: the image is still right
        return None
