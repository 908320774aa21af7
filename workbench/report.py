"""The one report table every notebook prints.

    >>> from workbench import data, models
    >>> from workbench.measure import measure_all
    >>> ds = data.load("digits")
    >>> rows = measure_all({"lenet300": models.build("lenet300"), "lenet5": models.build("lenet5")},
    ...                    ds, latency_batches=(1,), repeats=3)
    >>> list(report(rows).table.columns[:4])
    ['accuracy', 'delta_pp', 'params', 'nonzeros']

``Report.table`` holds the numbers (bytes, counts, milliseconds, ratios against
the baseline row); the notebook shows a formatted copy. Timing cells read
``… ms`` and ``…× faster``/``…× slower`` so that a notebook test can mask them
(they vary run to run) while checking every other cell.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ._checks import check_choice, checked
from .measure import Measurement


@checked
class Report:
    """Measurements side by side, with ratios against a baseline row."""

    def __init__(self, rows: Mapping[str, Measurement], baseline: str | None = None):
        if not rows:
            raise ValueError("rows must hold at least one measurement")
        self.rows = dict(rows)
        self.baseline = baseline if baseline is not None else next(iter(self.rows))
        check_choice("baseline", self.baseline, self.rows, what="baseline row")
        self.table = self._table()

    def _table(self) -> pd.DataFrame:
        base = self.rows[self.baseline]
        batches = sorted({b for m in self.rows.values() for b in m.latency})
        records = {}
        for name, m in self.rows.items():
            r = dict(accuracy=m.accuracy, delta_pp=100 * (m.accuracy - base.accuracy), params=m.params,
                     nonzeros=m.nonzeros, sparsity=m.sparsity, size_bytes=m.size_bytes, encoding=m.encoding,
                     size_ratio=base.size_bytes / m.size_bytes, macs=m.macs,
                     mac_ratio=base.macs / m.macs if m.macs else float("nan"))
            for b in batches:
                ms, base_ms = m.latency_ms(b), base.latency_ms(b)
                r[f"latency_ms_b{b}"] = ms
                r[f"speedup_b{b}"] = base_ms / ms if ms and base_ms else None
            records[name] = r
        return pd.DataFrame.from_dict(records, orient="index")

    def formatted(self) -> pd.DataFrame:
        """The table as display strings."""
        t = self.table
        out = pd.DataFrame(index=t.index)
        out["accuracy"] = t.accuracy.map(lambda v: f"{100 * v:.2f}%")
        out["Δ acc"] = [("—" if n == self.baseline else f"{v:+.2f} pp") for n, v in t.delta_pp.items()]
        out["params"] = t.params.map(lambda v: f"{v:,}")
        out["non-zeros"] = [f"{nz:,} ({100 * (1 - s):.1f}%)" for nz, s in zip(t.nonzeros, t.sparsity)]
        out["size"] = t.size_bytes.map(format_bytes)
        out["encoding"] = t.encoding
        base = t.index == self.baseline
        out["size ratio"] = [("—" if b else _ratio(v, "smaller", "larger")) for b, v in zip(base, t.size_ratio)]
        out["MACs"] = t.macs.map(format_count)
        out["MAC ratio"] = [("—" if b else _ratio(v, "fewer", "more")) for b, v in zip(base, t.mac_ratio)]
        for col in t.columns:
            if col.startswith("latency_ms_b"):
                b = col.removeprefix("latency_ms_b")
                out[f"latency b{b}"] = t[col].map(lambda v: "—" if pd.isna(v) else f"{v:.3f} ms")
                out[f"speedup b{b}"] = [("—" if bb or pd.isna(v) else _ratio(v, "faster", "slower"))
                                        for bb, v in zip(base, t[f"speedup_b{b}"])]
        return out

    def caption(self) -> str:
        lats = [lat for m in self.rows.values() for lat in m.latency.values()]
        examples = self.rows[self.baseline].eval_examples
        text = f"accuracy on {examples:,} held-out examples; ratios against {self.baseline!r}"
        if lats:
            lat = lats[0]
            text += (f"; latency: median of {lat.runs} interleaved runs after warm-up, "
                     f"{lat.threads} threads, {lat.device}")
        return text

    def _repr_html_(self) -> str:
        return self.formatted().to_html() + f"<p><small>{self.caption()}</small></p>"

    def __repr__(self) -> str:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            return f"{self.formatted()}\n{self.caption()}"


@checked
def report(rows: Mapping[str, Measurement], baseline: str | None = None) -> Report:
    """A :class:`Report` of ``rows`` with ratios against ``baseline`` (default: the first row)."""
    return Report(rows, baseline)


def format_bytes(n: float) -> str:
    """Decimal units, as disk sizes are quoted: ``format_bytes(1_067_080) == '1.07 MB'``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def format_count(n: float) -> str:
    """``format_count(7_452_416) == '7.45 M'``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)}"


def _ratio(v: float, better: str, worse: str) -> str:
    if v is None or pd.isna(v):
        return "—"
    if v >= 1:
        return f"{v:.2f}× {better}"
    return f"{1 / v:.2f}× {worse}"
