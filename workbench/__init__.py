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
