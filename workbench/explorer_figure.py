"""What the explorer draws: the four live plots, the report table, the hints in empty plots.

Functions of an :class:`~workbench.explorer.Explorer` (its state in, widgets
updated); kept apart from the measuring so each module has one concern.

    >>> pareto_front([(1, 90), (2, 95), (3, 94), (0.5, 80)])
    [(0.5, 80), (1, 90), (2, 95)]

The latency plot draws each point with error bars (the middle half of its timed
runs) and the baseline as a dashed line inside a grey band (its spread), so a
student can tell a trend from noise. An empty plot says which button fills it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from ._checks import checked
from .latency import Latency
from .measure import Measurement
from .report import Report

PLOT_HEIGHT = 340
# trace indices: 0-2 baseline reference lines; 3 baseline point; 4-7 current point;
# 8 every measured point; 9 Pareto front; 10 baseline latency band; then three per series
BAND = 10
HINTS = ("hint accuracy", "hint size", "hint latency", "hint pareto")


def make_figure(x: str, title: str = "", log_x: bool = False):
    """The explorer's ``FigureWidget``: accuracy, size, latency against ``x``, and the Pareto plot.

    It sizes to its container (no fixed width); its legend sits below the plots.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=4, horizontal_spacing=0.08, subplot_titles=(
        "accuracy (%)", "size (kB)", "latency (ms)", "Pareto front"))
    for col in (1, 2, 3):
        fig.update_xaxes(title_text=x, type="log" if log_x else None, row=1, col=col)
    fig.update_xaxes(title_text="size (kB)", type="log", row=1, col=4)
    fig.update_annotations(font_size=13)                       # subplot titles fit a 700-px figure
    ref = dict(mode="lines", line=dict(dash="dash", color="grey"), showlegend=False, hoverinfo="skip")
    for col in (1, 2, 3):
        fig.add_trace(go.Scatter(x=[], y=[], name="baseline", **ref), row=1, col=col)
    fig.data[2].mode, fig.data[2].marker = "lines+markers", dict(color="grey", size=5)   # one batch: still a dot
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers+text", text=["baseline"], textposition="top left",
                             marker=dict(color="grey", size=9), showlegend=False), row=1, col=4)
    cur = dict(mode="markers", marker=dict(color="crimson", size=13, symbol="star"), showlegend=False)
    for col in (1, 2, 3, 4):
        fig.add_trace(go.Scatter(x=[], y=[], name="current", **cur), row=1, col=col)
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", marker=dict(color="steelblue", size=7, opacity=0.5),
                             name="measured", showlegend=False, hovertext=[]), row=1, col=4)
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines", line=dict(color="steelblue", shape="hv"),
                             name="Pareto front", showlegend=False), row=1, col=4)
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines", fill="toself", fillcolor="rgba(128,128,128,0.18)",
                             line=dict(width=0), name="baseline spread", showlegend=False, hoverinfo="skip"),
                  row=1, col=3)
    for col, name in enumerate(HINTS, start=1):
        axis = "" if col == 1 else str(col)
        fig.add_annotation(text="", name=name, showarrow=False, xref=f"x{axis} domain", yref=f"y{axis} domain",
                           x=0.5, y=0.5, font=dict(size=12, color="#666"), visible=False)
    fig.update_layout(title=dict(text=title or None, font=dict(size=14)), height=PLOT_HEIGHT, autosize=True,
                      margin=dict(l=40, r=15, t=60, b=40), legend=dict(orientation="h", x=0, y=-0.28))
    return go.FigureWidget(fig)


def set_hint(fig, name: str, text: str | None) -> None:
    """Show ``text`` in the middle of the plot ``name`` (one of ``HINTS``), or hide its hint."""
    for ann in fig.layout.annotations:
        if ann.name == name:
            ann.text, ann.visible = text or "", bool(text)


def empty_hints(explorer) -> dict[str, str | None]:
    """What each plot says while it has nothing to show."""
    measured = bool(explorer._points)
    nothing = None if measured else ("press <b>run</b> to train and<br>measure a setting"
                                     if explorer.run_mode == "button" else "nothing measured yet")
    timed = any(p.measurement.latency for p in explorer._points.values())
    if timed:
        latency = None
    elif explorer.latency_mode == "off":
        latency = "latency is not timed<br>in this panel"
    elif explorer.latency_mode == "button" and measured:
        latency = "press <b>measure latency</b><br>to time this setting"
    else:
        latency = nothing
    return dict(zip(HINTS, (nothing, nothing, latency, nothing)))


def draw_hints(explorer) -> None:
    """Show or hide each plot's hint (see :func:`empty_hints`)."""
    for name, text in empty_hints(explorer).items():
        set_hint(explorer.figure, name, text)


def _error_bars(lats: list[Latency | None]) -> dict:
    meds = [lat.median_ms if lat else None for lat in lats]
    return dict(type="data", symmetric=False, thickness=1, width=3,
                array=[lat.q3_ms - m if lat else 0 for lat, m in zip(lats, meds)],
                arrayminus=[m - lat.q1_ms if lat else 0 for lat, m in zip(lats, meds)])


def redraw(explorer, point) -> None:
    """Redraw every plot and the table for the measured points, ``point`` as the current one."""
    import plotly.graph_objects as go

    fig = explorer.figure
    pts = list(explorer._points.values())
    series_key = explorer._series_key(point.params)
    if series_key not in explorer._series:
        label = ", ".join(f"{k}={v}" for k, v in series_key) or "measured"
        first = len(fig.data)
        for col in (1, 2, 3):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name=label,
                                     legendgroup=label, showlegend=col == 1), row=1, col=col)
        explorer._series[series_key] = first
    x = explorer.x
    # the numbers first: the browser renders the table before it spends its time redrawing the plots
    explorer.table.value = table_html(explorer, point)
    with fig.batch_update():
        xs_all = [p.params[x] for p in pts]
        lo, hi = (min(xs_all), max(xs_all)) if _numeric(xs_all) else (None, None)
        base = explorer.base_point.measurement
        for i, value in enumerate((100 * base.accuracy, base.size_bytes / 1e3)):
            if lo is not None:
                fig.data[i].x, fig.data[i].y = (lo, hi), (value, value)
        _draw_baseline_latency(explorer, pts, point, lo, hi)
        fig.data[3].x, fig.data[3].y = (base.size_bytes / 1e3,), (100 * base.accuracy,)
        for key, first in explorer._series.items():
            mine = sorted((p for p in pts if explorer._series_key(p.params) == key),
                          key=lambda p: _sort_key(p.params[x]))
            xs = [p.params[x] for p in mine]
            fig.data[first].x, fig.data[first].y = xs, [100 * p.measurement.accuracy for p in mine]
            fig.data[first + 1].x, fig.data[first + 1].y = xs, [p.measurement.size_bytes / 1e3 for p in mine]
            lats = [p.measurement.latency.get(explorer._batch(p.params)) for p in mine]
            fig.data[first + 2].x = xs
            fig.data[first + 2].y = [lat.median_ms if lat else None for lat in lats]
            fig.data[first + 2].error_y = _error_bars(lats)
        m = point.measurement
        xv = point.params[x]
        fig.data[4].x, fig.data[4].y = (xv,), (100 * m.accuracy,)
        fig.data[5].x, fig.data[5].y = (xv,), (m.size_bytes / 1e3,)
        lat = m.latency_ms(explorer._batch(point.params))
        fig.data[6].x, fig.data[6].y = ((xv,), (lat,)) if lat is not None else ((), ())
        fig.data[7].x, fig.data[7].y = (m.size_bytes / 1e3,), (100 * m.accuracy,)
        fig.data[8].x = [p.measurement.size_bytes / 1e3 for p in pts]
        fig.data[8].y = [100 * p.measurement.accuracy for p in pts]
        fig.data[8].hovertext = [", ".join(f"{k}={v}" for k, v in p.params.items()) for p in pts]
        front = pareto_front([(p.measurement.size_bytes / 1e3, 100 * p.measurement.accuracy) for p in pts])
        fig.data[9].x, fig.data[9].y = [f[0] for f in front], [f[1] for f in front]
        draw_hints(explorer)


def _draw_baseline_latency(explorer, pts, point, lo, hi) -> None:
    """The baseline's (smoothed) latency: a line with its spread band, per batch size when x is the batch."""
    fig = explorer.figure
    if explorer.x == "batch_size":
        batches = sorted({explorer._batch(p.params) for p in pts})
        lats = [(b, explorer.baseline_latency(b)) for b in batches]
        lats = [(b, lat) for b, lat in lats if lat is not None]
        xs = [b for b, _ in lats]
    else:
        lat = explorer.baseline_latency(explorer._batch(point.params))
        lats, xs = ([(None, lat), (None, lat)], [lo, hi]) if lat is not None and lo is not None else ([], [])
    fig.data[2].x, fig.data[2].y = xs, [lat.median_ms for _, lat in lats]
    fig.data[BAND].x = xs + xs[::-1]
    fig.data[BAND].y = [lat.q3_ms for _, lat in lats] + [lat.q1_ms for _, lat in lats][::-1]


def table_html(explorer, point, *, timing: bool = False) -> str:
    """The report table of the baseline and ``point``, with the latency spread and how it was timed.

    ``timing=True``: ``point``'s latency is being measured (the note says so).
    """
    base = explorer.base_point.measurement
    batch = explorer._batch(point.params)
    base_lat = point.baseline_latency if point.full else explorer.baseline_latency(batch)
    if base_lat is not None:
        base = _with(base, {batch: base_lat})
    label = "current" if point is not explorer.base_point else "(not run yet)"
    rep = Report({"baseline": base, label: point.measurement}, "baseline")
    cols = ["accuracy", "Δ acc", "non-zeros", "size", "encoding", "size ratio", "MACs", "MAC ratio"]
    fmt = rep.formatted()
    timed = [c for c in fmt.columns if c.startswith(("latency", "speedup"))]
    table = fmt[cols + timed].copy()
    for b in sorted({b for m in (base, point.measurement) for b in m.latency}):
        table[f"spread b{b}"] = [_spread(m.latency.get(b)) for m in (base, point.measurement)]
    note = "timing this setting…" if timing else timing_note(explorer, point) if timed else "latency not timed"
    caption = rep.caption().split("; latency:")[0]             # how latency was timed: in the note
    body = table.T.to_html(border=0, classes="wb-table")
    return (f'<style>.wb-table {{font-size:12.5px; border-collapse:collapse}} .wb-table td, .wb-table th '
            f'{{padding:1px 8px !important; line-height:1.25 !important; white-space:nowrap}}</style>'
            f'<div style="margin-left:12px">{body}<div style="font-size:11px;line-height:1.3;'
            f'color:#555;max-width:360px">{html.escape(caption)}.<br>{note}.</div></div>')


def timing_note(explorer, point) -> str:
    """How the latency in the table was timed, and a warning when other load disturbed it."""
    m_lat = point.measurement.latency.get(explorer._batch(point.params))
    if m_lat is None:
        return "latency not timed for this setting"
    threads = f"{m_lat.threads} thread{'s' if m_lat.threads != 1 else ''}"
    if point.full:
        note = f"full timing: median of {m_lat.runs} interleaved runs, {threads}"
    else:
        note = (f"quick timing: {m_lat.runs} runs interleaved with the baseline, {threads}, lowest of 3 block "
                f"medians; spread: the middle half of the runs; baseline: the median of its timings so far. "
                f"Press 'measure latency' for 30 runs")
    factor = explorer.load_factor(point)
    if factor is not None and factor > 1.5:
        note += (f'. <span style="color:#b00020">Other load slowed this timing: the baseline ran {factor:.1f}× '
                 f"slower than usual; read this figure with care</span>")
    return note


def _spread(lat: Latency | None) -> str:
    return "—" if lat is None else f"{lat.q1_ms:.3f}–{lat.q3_ms:.3f} ms"


def _with(m: Measurement, latency: Mapping) -> Measurement:
    from dataclasses import replace

    return replace(m, latency={**m.latency, **latency})


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _sort_key(v):
    return (0, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, str(v))


@checked
def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both size (lower) and accuracy (higher), by size.

    >>> pareto_front([(1, 90), (2, 95), (3, 94), (0.5, 80)])
    [(0.5, 80), (1, 90), (2, 95)]
    """
    front, best = [], float("-inf")
    for size, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((size, acc))
            best = acc
    return front
