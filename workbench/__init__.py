"""A workbench for learning neural-network compression by measuring it.

    >>> import workbench as wb
    >>> ds = wb.load("digits")                 # 5,000 real MNIST digits, no download
    >>> model = wb.get_baseline("lenet5")      # a trained baseline, committed under data/
    >>> row = wb.measure(model, ds, latency_batches=(1,), repeats=3)
    >>> row.accuracy > 0.9
    True

One module per concern: ``data``, ``models``, ``train``, ``baselines``,
``checkpoint``; measurement in ``metrics`` (counts, MACs), ``encodings`` (bytes),
``latency``, ``measure`` and ``report``; the live ``explorer`` and ``widgets``;
``exercises`` with their check functions (reference solutions in ``solutions``).
"""

import os as _os
import sys as _sys

# Every explorer draws with plotly's FigureWidget, whose import reaches jsonschema (through
# nbformat), which then builds rfc3987-syntax's 39 Earley parsers for an IRI format check
# nothing here uses: 1.5-3 s of every kernel's start, most of a lecture page's wait
# (measured: FigureWidget imports in 0.3 s without it, 3.1 s with it, on 2 busy cores).
# jsonschema treats the package as absent. WORKBENCH_IRI_FORMATS=1 keeps it.
if "rfc3987_syntax" not in _sys.modules and _os.environ.get("WORKBENCH_IRI_FORMATS") != "1":
    _sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]

from .baselines import baseline_info, get_baseline
from .data import DATASETS, Dataset, default_dataset, load
from .encodings import ENCODINGS, decode, encode, size_bytes
from .explorer import Explorer
from .latency import Latency, compare_latency, measure_latency
from .measure import Measurement, measure, measure_all
from .metrics import count_macs, count_nonzero, count_params, layer_table, sparsity
from .models import MODELS, build
from .notebook import setup
from .report import Report, report
from . import encodings, models, plots
from .train import evaluate, fine_tune, get_device, predict, seed_everything, train
from .widgets import Dropdown, Slider, Toggle, show

__version__ = "0.1.0"

__all__ = [
    "DATASETS", "Dataset", "ENCODINGS", "Explorer", "Latency", "MODELS", "Measurement", "Report",
    "Dropdown", "Slider", "Toggle", "baseline_info", "build", "compare_latency", "count_macs",
    "count_nonzero", "count_params", "decode", "default_dataset", "encode", "evaluate", "fine_tune", "get_baseline",
    "get_device", "layer_table", "load", "measure", "measure_all", "measure_latency", "predict",
    "report", "seed_everything", "setup", "show", "size_bytes", "sparsity", "train",
]
