"""Projector styling for the lecture pages (``make lecture``): large type, high contrast.

The first cell of every lecture page calls :func:`projector`; notebooks never do.

    >>> css = projector_css()
    >>> "font-size" in css
    True
"""

from __future__ import annotations

BASE_PX = 20        # body text, readable from the back of a room
TABLE_PX = 18       # report tables hold many columns


def projector_css(base_px: int = BASE_PX, table_px: int = TABLE_PX) -> str:
    """The page's CSS: larger text, widget labels and tables; content capped at 1280 px."""
    return f"""<style>
body, .jp-RenderedHTMLCommon, .jp-RenderedMarkdown {{ font-size: {base_px}px !important; line-height: 1.45; }}
.jp-RenderedMarkdown h1 {{ font-size: {int(base_px * 1.8)}px !important; }}
.jp-RenderedMarkdown h3 {{ font-size: {int(base_px * 1.25)}px !important; }}
.widget-label, .widget-readout, .widget-dropdown select, .widget-toggle-button, .widget-button,
.widget-html-content, .widget-inline-hbox .widget-label {{ font-size: {base_px - 2}px !important; }}
.widget-html-content table {{ font-size: {table_px}px !important; }}
.jp-RenderedHTMLCommon table {{ font-size: {table_px - 3}px !important; }}  /* a DataFrame's many columns fit */
.jp-OutputArea-output pre {{ font-size: {base_px - 4}px !important; }}
#rendered_cells, .jp-Notebook {{ max-width: 1280px; margin: 0 auto; }}
</style>"""


def projector(base_px: int = BASE_PX) -> None:
    """Style the page for a projector and make figures drawn after this call larger and bolder."""
    from IPython.display import HTML, display

    from ._checks import check_int

    check_int("base_px", base_px, 10, 48)
    display(HTML(projector_css(base_px)))
    import matplotlib as mpl

    mpl.rcParams.update({"font.size": base_px - 6, "axes.titlesize": base_px - 4, "axes.labelsize": base_px - 5,
                         "lines.linewidth": 2.5, "lines.markersize": 8, "figure.dpi": 100})
    import plotly.graph_objects as go
    import plotly.io as pio

    pio.templates["lecture"] = go.layout.Template(layout={"font": {"size": base_px - 4},
                                                          "colorway": ["#0b3d91", "#d62728", "#2ca02c", "#ff7f0e",
                                                                       "#6a3d9a", "#17becf"]})
    pio.templates.default = "plotly_white+lecture"
    share_plotly_module()


ESM_ENV = "WORKBENCH_PLOTLY_ESM"


def share_plotly_module(url: str | None = None) -> bool:
    """Make every plotly FigureWidget load its JavaScript from ``url`` (default ``$WORKBENCH_PLOTLY_ESM``).

    By default each FigureWidget carries plotly's whole widget bundle (about 5 MB) in
    its own state; the browser receives and evaluates it once per figure, about 0.9 s
    of a page's main thread each. Loaded from one address, the browser evaluates the
    module once and every figure reuses it. The lecture server (``make lecture``)
    serves the installed plotly's bundle and sets the variable; without it nothing
    changes. Returns whether the address is in use.

    >>> share_plotly_module("ftp://example.org/bundle.js")
    Traceback (most recent call last):
    ...
    ValueError: url must start with http:// or https://, got 'ftp://example.org/bundle.js'
    """
    import os

    url = url if url is not None else os.environ.get(ESM_ENV, "")
    if not url:
        return False
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    from plotly.basewidget import BaseFigureWidget

    BaseFigureWidget._esm = url
    return True
