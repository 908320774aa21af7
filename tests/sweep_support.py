"""The bad-input sweep over the public API (issue 10): every callable every module lists
in ``__all__``, one valid example call each, then one bad value at a time per parameter.

    PYTHONPATH=. python tests/sweep_support.py        # prints the summary and the failures

Each bad call is classified:

- ``GOOD``: a ``ValueError``/``TypeError`` raised by the workbench (not from inside torch,
  numpy or safetensors) whose message names the argument;
- ``ACCEPTED``: no error (or the call ran past ``TIMEOUT_S``: the value was not refused up front);
- ``RAW``: anything else (another exception, an error from a library's frame, or one that
  does not name the argument).

The example arguments come from a small table of valid values by parameter name
(``VALID``), the parameter's default, and per-function ``OVERRIDES``. A public callable with
neither an example nor an ``EXEMPT`` entry (with its reason) fails the test.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import math
import os
import pkgutil
import re
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import workbench as wb  # noqa: E402

TIMEOUT_S = 3.0                 # a bad call still running after this was not refused up front
EXAMPLE_TIMEOUT_S = 15.0        # a valid example call (generous: the machine is shared)
NO_EXAMPLE = object()

# ---------------------------------------------------------------- which callables, which exempt
PACKAGE_RULES = {   # packages without ``__all__``: their public API is the functions of these submodules
    "workbench.quantization": ("affine", "binary", "calibration", "fake", "integer", "packing", "real"),
}
EXEMPT_MODULES = {
    "workbench.exercises": "check_* functions take the learner's function and report its errors as feedback",
    "workbench.solutions": "reference solutions the exercise checks call with fixed, valid cases",
}
_RECORD = "a result record the package fills in (a dataclass of measured values), not a learner's input"
_TRAINS = "trains or times networks for more than a second; its argument checks run before training (tested in its module)"
_STORED = "loads stored networks or baselines from data/ (seconds); the names it takes are checked by get_baseline"
EXEMPT = {
    "workbench.regularization.Candidate": _RECORD,
    "workbench.regularization.structured_sparsity": _TRAINS, "workbench.regularization.one_shot_magnitude": _TRAINS,
    "workbench.efficient.matched_budget": _TRAINS,
    "workbench.Dataset": _RECORD, "workbench.Latency": _RECORD, "workbench.Measurement": _RECORD,
    "workbench.distillation.Comparison": _RECORD, "workbench.distillation.OmittedClass": _RECORD,
    "workbench.precision.MixedHistory": _RECORD, "workbench.sharing.Run": _RECORD,
    "workbench.quantization.fake.check_model_bits": "an argument check itself: its first argument is the name its message uses",
    "workbench.precision.Format": "a record of a number format's fields; FORMATS holds the valid ones",
    "workbench.encodings.Codec": _RECORD,
    "workbench.encodings.Policy": "a type alias (Callable[[str, Tensor], str]), not a function",
    "workbench.setup": "changes process-wide state (threads, seeds, warnings) the sweep itself runs under",
    "workbench.show": "displays a widget in a notebook (IPython display); nothing to check beyond the widget",
    "workbench.Explorer": "builds a widget panel that measures a baseline (seconds)",
    "workbench.get_baseline": _STORED, "workbench.distillation.load_teacher": _STORED,
    "workbench.distillation.cached_teachers": _STORED, "workbench.efficient.load_grid": _STORED,
    "workbench.efficient.load_designs": _STORED,
    "workbench.distillation.compare": _TRAINS, "workbench.distillation.distill": _TRAINS,
    "workbench.distillation.feature_transfer": _TRAINS, "workbench.distillation.omitted_class": _TRAINS,
    "workbench.dynamic.notebook_network": _STORED,
    "workbench.dynamic.train_early_exit": _TRAINS, "workbench.dynamic.per_example_latency": _TRAINS,
    "workbench.dynamic.summary_rows": "reads entries built from trained networks and times them (seconds)",
    "workbench.efficient.shuffle_comparison": _TRAINS,
    "workbench.efficient.train_net": _TRAINS, "workbench.efficient.time_blocks": _TRAINS,
    "workbench.efficient.reference_shares":
        "counts MACs of four torchvision ImageNet networks at 224 px (seconds)",
    "workbench.precision.train_recipes": _TRAINS, "workbench.precision.train_mixed": _TRAINS,
    "workbench.precision.time_training_steps": _TRAINS, "workbench.precision.record_gradients": _TRAINS,
    "workbench.precision.accuracy_table": "reads the runs of train_recipes (which trains)",
    "workbench.regularization.dense_sparse_dense": _TRAINS, "workbench.regularization.dynamic_surgery": _TRAINS,
    "workbench.regularization.regularization_path": _TRAINS, "workbench.regularization.train_dropconnect": _TRAINS,
    "workbench.regularization.train_sparse": _TRAINS,
    "workbench.sharing.compare_hashing": _TRAINS, "workbench.sharing.compare_rules": _TRAINS,
    "workbench.sharing.compare_inits": _TRAINS, "workbench.sharing.deep_compress": _TRAINS,
    "workbench.sharing.fine_tune_centroids": _TRAINS,
    "workbench.sharing.side_by_side": "reads Runs of deep_compress (which trains)",
    "workbench.sharing.layer_table": "reads a Run of deep_compress (which trains)",
    "workbench.lowrank.experiments.rank_sweep": "evaluates a whole model per setting of a Decomposer (seconds)",
    "workbench.quantization.affine.QuantError": _RECORD,
    "workbench.quantization.integer.IntegerLayer": "a record integer_layer builds (and checks) from a float layer",
    "workbench.lowrank.LowRank": "the container svd_linear / spatial_conv / tucker_conv / cp_conv build and check",
    "workbench.quantization.real.speedup_lines": "reads the report of real.compare (which times networks)",
    "workbench.regularization.path_table": "reads the path of regularization_path (which trains)",
    "workbench.lowrank.experiments.smallest_within": "reads the table of rank_sweep (which trains)",
    "workbench.quantization.real.compare": _TRAINS, "workbench.quantization.real.compile_fp32":
        "compiles the model with torch.compile (seconds)",
}


# Functions whose valid call takes seconds (loads baselines, trains, times): the sweep makes
# only the bad calls, each of which must be refused before that work starts (a bad call
# still running after TIMEOUT_S counts as ACCEPTED). Their examples are not run here.
_LOADS = "the valid call loads baselines and measures them (seconds)"
FRONT_DOOR = {
    **{q: r for q, r in EXEMPT.items() if r in (_TRAINS, _STORED)},
    "workbench.pruning.make_explorer": _LOADS, "workbench.lowrank.make_explorer": _LOADS,
    "workbench.sharing.make_explorer": _LOADS, "workbench.regularization.make_explorer": _LOADS + " and trains",
    "workbench.efficient.make_explorer": _LOADS, "workbench.distillation.make_explorer": _LOADS,
    "workbench.explorer.model_explorer": _LOADS, "workbench.dynamic.make_explorer": _LOADS,
    "workbench.dynamic.DynamicExplorer": _LOADS,
    "workbench.train": _TRAINS, "workbench.fine_tune": _TRAINS, "workbench.measure": _TRAINS,
    "workbench.measure_latency": _TRAINS, "workbench.compare_latency": _TRAINS, "workbench.measure_all": _TRAINS,
}


def public_api() -> dict[str, Callable]:
    """Qualified name -> callable, for every name in every ``__all__`` of the package
    (and the submodules ``PACKAGE_RULES`` names for packages without one)."""
    found: dict[str, Callable] = {}
    seen: set[int] = set()
    modules = [wb] + [importlib.import_module(m.name)
                      for m in pkgutil.walk_packages(wb.__path__, "workbench.")
                      if not any(m.name == e or m.name.startswith(e + ".") for e in EXEMPT_MODULES)]
    for module in sorted(modules, key=lambda m: (m.__name__.count("."), m.__name__)):
        names = getattr(module, "__all__", None)
        pairs = []
        if names is not None:
            pairs = [(module.__name__, n, getattr(module, n)) for n in names]
        elif module.__name__ in PACKAGE_RULES:
            for sub in PACKAGE_RULES[module.__name__]:
                m = importlib.import_module(f"{module.__name__}.{sub}")
                pairs += [(m.__name__, n, o) for n, o in vars(m).items()
                          if not n.startswith("_") and getattr(o, "__module__", None) == m.__name__
                          and (inspect.isfunction(o) or inspect.isclass(o))]
        for mod_name, name, obj in pairs:
            if inspect.ismodule(obj) or not callable(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            found[f"{mod_name}.{name}"] = obj
    return found


def packages_without_all() -> list[str]:
    """Subpackages that define no ``__all__`` and have no rule: their API would go unswept."""
    out = []
    for m in pkgutil.walk_packages(wb.__path__, "workbench."):
        if m.ispkg and m.name not in EXEMPT_MODULES and m.name not in PACKAGE_RULES:
            if not hasattr(importlib.import_module(m.name), "__all__"):
                out.append(m.name)
    return out


# ---------------------------------------------------------------- valid examples
_CACHE: dict[str, Any] = {}


def _cached(key: str, make: Callable[[], Any]) -> Any:
    if key not in _CACHE:
        torch.manual_seed(0)
        _CACHE[key] = make()
    return _CACHE[key]


def small_data():
    def make():
        ds = wb.load()
        n = 64
        return dataclasses.replace(ds, X_train=ds.X_train[:n], y_train=ds.y_train[:n], X_val=ds.X_val[:n],
                                   y_val=ds.y_val[:n], X_test=ds.X_test[:n], y_test=ds.y_test[:n])
    return _cached("data", make)


def model(name: str = "lenet5") -> nn.Module:
    return copy.deepcopy(_cached(f"model:{name}", lambda: wb.build(name).eval()))


def logits(n: int = 8, c: int = 10) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(0))


def labels(n: int = 8) -> torch.Tensor:
    return torch.arange(n) % 10


def images(n: int = 8) -> torch.Tensor:
    return small_data().X_val[:n].clone()


def early_exit_net():
    return copy.deepcopy(_cached("eenet", lambda: wb.dynamic.EarlyExitNet().eval()))


def _scores_l1(name="lenet5"):
    from workbench import pruning
    return _cached(f"scores:{name}", lambda: pruning.weight_scores(model(name), "l1"))


def _channel_scores(name="vgg"):
    from workbench import pruning
    return _cached(f"cscores:{name}", lambda: pruning.channel_scores(model(name), "l1"))


# by parameter name: a factory for a valid value (used when the parameter has no default)
VALID: dict[str, Callable[[], Any]] = {
    "model": model, "net": early_exit_net, "data": small_data, "X": images, "y": labels,
    "logits": logits, "student_logits": logits, "teacher_logits": logits,
    "small_logits": logits, "big_logits": logits,
    "features": lambda: torch.rand(4, 8, 6, 6), "student_features": lambda: torch.rand(4, 8, 6, 6),
    "teacher_features": lambda: torch.rand(4, 8, 6, 6),
    "input_shape": lambda: (1, 28, 28), "amount": lambda: 0.5, "bits": lambda: 4, "k": lambda: 4,
    "threshold": lambda: 0.1, "lam": lambda: 1e-3, "temperature": lambda: 4.0, "rank": lambda: 4,
    "kind": lambda: "filter", "method": lambda: "svd", "name": lambda: "lenet5",
    "scores": _scores_l1, "fraction": lambda: 0.9, "s": lambda: torch.linspace(3.0, 0.1, 10),
    "W": lambda: torch.randn(12, 10), "weight": lambda: torch.randn(12, 10), "w": lambda: torch.randn(12, 10),
    "x": lambda: torch.randn(4, 8, 3, 3), "grads": lambda: torch.randn(1000) * 1e-3,
    "fmt": lambda: "fp16", "value": lambda: 0.1, "precision": lambda: "bf16", "scaling": lambda: "none",
    "c_in": lambda: 8, "c_out": lambda: 16, "kernel_size": lambda: 3, "h": lambda: 7, "size": lambda: 7,
    "groups": lambda: 2, "m": lambda: 300, "n": lambda: 784, "digit": lambda: 3,
    "values": lambda: np.random.default_rng(0).normal(size=200).astype(np.float32),
    "weights": lambda: np.random.default_rng(0).normal(size=200).astype(np.float32),
    "counts": lambda: np.array([5, 3, 2, 1]), "lengths": lambda: np.array([1, 2, 3, 3]),
    "max_value": lambda: 300, "t": lambda: torch.randn(12, 10), "mode": lambda: "relative_huffman",
    "module": lambda: nn.Conv2d(3, 8, 3), "conv": lambda: nn.Conv2d(8, 16, 3), "layer": lambda: nn.Linear(20, 12),
    "exits": lambda: 3, "chosen": lambda: torch.tensor([0, 1, 2, 2, 1, 0, 0, 2]),
    "thresholds": lambda: [0.5, 0.5], "exit_macs": lambda: [1.0, 2.0, 3.0],
    "small_macs": lambda: 1.0, "big_macs": lambda: 10.0, "channels": lambda: (16, 32),
    "width": lambda: 0.5, "alpha": lambda: 0.5, "index_bits": lambda: 4, "kernel": lambda: torch.randn(16, 8, 3, 3),
    "ranks": lambda: (4, 4), "reference_ms": lambda: 2.0, "ms": lambda: 1.0, "updates": lambda: torch.randn(100) * 1e-6,
    "regressor": lambda: nn.Conv2d(8, 8, 1), "exit_weights": lambda: [1.0, 1.0, 1.0],
    "outputs": lambda: [logits(), logits(), logits()], "full_accuracy": lambda: 0.9,
    "points": lambda: [(1.0, 0.5), (2.0, 0.9), (3.0, 0.8)], "tolerance": lambda: 0.01, "p": lambda: 2.0,
    "scratch": lambda: 0.8, "distilled": lambda: 0.85, "teacher": lambda: 0.9,
    "keep": lambda: {"features.0": torch.tensor([True] * 4 + [False] * 2)},
    "masks": lambda: {k: (v > v.median()).float() for k, v in _scores_l1().items()},
    "lams": lambda: [0.0, 1e-3], "models": lambda: {"a": model()}, "regularizer": lambda: "l1", "blob": lambda: wb.encode(model("lenet300"), "fp32"),
}


def _exit_logits():
    net = early_exit_net()
    return _cached("exit_logits", lambda: wb.dynamic.exit_logits(net, images(8)))


def _sweep_table():
    return _cached("sweep_table", lambda: wb.dynamic.sweep(_exit_logits(), labels(), [1.0, 2.0, 3.0], [0.1, 0.5]))


def _codes_payload():
    from workbench.encodings import pack_codes
    return pack_codes(np.array([0, 1, 2, 3, 2]), np.array([1, 2, 3, 3]))


def _grid_table():
    from workbench.efficient import grid_table
    nets = {(0.25, 14): wb.efficient.build_net("separable", 0.25, 14)}
    return _cached("grid_table", lambda: grid_table(nets, small_data()))


def _il():
    from workbench.quantization.integer import integer_layer
    torch.manual_seed(0)
    return integer_layer(nn.Conv2d(1, 4, 3), torch.randn(8, 1, 6, 6))


def _packed():
    from workbench.quantization.packing import packed_encode
    return packed_encode(torch.randn(12, 10))


def _relative():
    from workbench.sharing import encode_tensor
    torch.manual_seed(0)
    return encode_tensor(torch.randn(12, 10) * (torch.rand(12, 10) > 0.5))


def _multiplier():
    from workbench.quantization.integer import quantize_multiplier
    m0, shift = quantize_multiplier(0.3)
    return torch.tensor(m0), torch.tensor(shift)


_Q = "workbench.quantization."
_AFFINE = {"x": lambda: torch.randn(4, 8), "scale": lambda: torch.tensor(0.1), "zero_point": lambda: torch.tensor(0)}

def _teacher():
    from workbench.distillation import CachedTeacher
    return _cached("teacher", lambda: CachedTeacher(model(), small_data().X_train))


def _shared_model():
    from workbench.sharing import share_weights
    return share_weights(model("lenet300"), 3, 3)


def _candidates() -> list:
    from workbench.regularization import Candidate

    return [Candidate(0.0, None, 0.0, 0.98), Candidate(0.1, None, 0.6, 0.975)]


# per function: valid keyword arguments (factories) that replace or add to the defaults above
OVERRIDES: dict[str, dict[str, Callable[[], Any]]] = {
    "workbench.baseline_info": {"model": lambda: "lenet5"},
    "workbench.regularization.choose": {"candidates": lambda: _candidates(), "base_val": lambda: 0.98},
    "workbench.regularization.candidates_table": {"candidates": lambda: _candidates()},
    "workbench.regularization.structured_sparsity": {"baseline": lambda: model("lenet5"), "lams": lambda: [0.0, 0.1]},
    "workbench.regularization.one_shot_magnitude": {"baseline": lambda: model("lenet300"), "amount": lambda: 0.9},
    "workbench.efficient.matched_budget": {"designed": lambda: model("lenet5"), "full": lambda: model("lenet5")},
    "workbench.efficient.prune_to_macs": {"model": lambda: model("lenet5"), "macs": lambda: 200_000, "steps": lambda: 4},
    "workbench.replay.replayable": {"fn": lambda: abs},
    "workbench.precision.lost_updates": {"weights": lambda: torch.randn(200), "updates": lambda: torch.randn(200) * 1e-6},
    "workbench.quantization.fake.quantize_model": {"calibration_X": lambda: images(8)},
    _Q + "affine.qparams": {"lo": lambda: torch.tensor(-1.0), "hi": lambda: torch.tensor(1.0)},
    _Q + "affine.quantize": _AFFINE, _Q + "affine.fake_quantize": _AFFINE, _Q + "affine.quantization_error": _AFFINE,
    _Q + "fake.fake_quantize_ste": _AFFINE,
    _Q + "affine.dequantize": {"q": lambda: torch.randint(-7, 8, (4, 8)), "scale": lambda: torch.tensor(0.1),
                               "zero_point": lambda: torch.tensor(0)},
    _Q + "affine.levels": {"scale": lambda: 0.1, "zero_point": lambda: 0},
    _Q + "fake.attach_input_quantizer": {"layer": lambda: nn.Linear(20, 12),
                                         "quantizer": lambda: wb_quant().fake.ActivationQuantizer(8)},
    _Q + "integer.quantize_multiplier": {"M": lambda: 0.3},
    _Q + "integer.rounding_doubling_high_mul": {"a": lambda: torch.tensor([1000, -2000]), "M0": lambda: _multiplier()[0]},
    _Q + "integer.rounding_right_shift": {"x": lambda: torch.tensor([100, -100]), "shift": lambda: torch.tensor(3)},
    _Q + "integer.requantize": {"acc": lambda: torch.tensor([1000, -500]), "M0": lambda: _multiplier()[0],
                                "shift": lambda: _multiplier()[1], "zero_point": lambda: 0},
    _Q + "integer.integer_layer": {"layer": lambda: nn.Conv2d(1, 4, 3), "x_calibration": lambda: torch.randn(8, 1, 6, 6)},
    _Q + "integer.fake_quant_forward": {"il": _il, "x": lambda: torch.randn(2, 1, 6, 6)},
    _Q + "integer.compare_with_fake": {"il": _il, "x": lambda: torch.randn(2, 1, 6, 6)},
    _Q + "packing.packed_decode": {"meta": lambda: _packed()[0], "payload": lambda: _packed()[1],
                                   "shape": lambda: (12, 10), "dtype": lambda: torch.float32},
    _Q + "packing.bits_per_weight": {"model_or_blob": lambda: model("lenet300")},
    _Q + "real.to_int8": {"calibration_X": lambda: images(8)},
    _Q + "real.speedup_text": {"baseline_ms": lambda: 2.0, "candidate_ms": lambda: 1.0},
    "workbench.sharing.decode_tensor": {"meta": lambda: _relative()[0], "payload": lambda: _relative()[1],
                                        "shape": lambda: (12, 10), "dtype": lambda: torch.float32},
    "workbench.distillation.make_explorer": {"data": wb.load},
    "workbench.distillation.compare": {"teacher": _teacher, "teacher_accuracy": lambda: 0.9},
    "workbench.distillation.distill": {"student": model, "teacher": _teacher},
    "workbench.distillation.omitted_class": {"teacher": _teacher},
    "workbench.distillation.feature_transfer": {"teacher": model, "logits": _teacher},
    "workbench.precision.time_training_steps": {"make_model": lambda: (lambda: wb.build("lenet5"))},
    "workbench.regularization.train_dropconnect": {"p": lambda: 0.5},
    "workbench.sharing.fine_tune_centroids": {"model": _shared_model},
    "workbench.Report": {"rows": lambda: {"a": _measurement()}},
    "workbench.report": {"rows": lambda: {"a": _measurement()}},
    "workbench.Dropdown": {"options": lambda: ["a", "b"]},
    "workbench.Toggle": {"options": lambda: ["a", "b"]},
    "workbench.Slider": {"low": lambda: 0.0, "high": lambda: 1.0, "step": lambda: 0.1},
    "workbench.decode": {"blob": lambda: wb.encode(model("lenet300"), "fp32")},
    "workbench.encode": {"model": lambda: model("lenet300")},
    "workbench.size_bytes": {"model": lambda: model("lenet300")},
    "workbench.evaluate": {"X": lambda: images(8), "y": lambda: labels(8)},
    "workbench.distillation.CachedTeacher": {"teacher": model, "X": lambda: images(8)},
    "workbench.distillation.Ensemble": {"members": lambda: [model(), model()]},
    "workbench.distillation.hint_loss": {"student_features": lambda: torch.rand(4, 8, 6, 6),
                                         "teacher_features": lambda: torch.rand(4, 8, 6, 6)},
    "workbench.distillation.ensemble_logits": {"logits": lambda: [logits(), logits()]},
    "workbench.distillation.omit_class": {"digit": lambda: 3},
    "workbench.distillation.transfer_subset": {"per_class": lambda: 3},
    "workbench.dynamic.Cascade": {"small": model, "big": model, "threshold": lambda: 0.5},
    "workbench.dynamic.EarlyExitModel": {"thresholds": lambda: 0.5},
    "workbench.dynamic.average_macs": {"chosen": lambda: torch.tensor([0, 1, 2]), "exit_macs": lambda: [1.0, 2.0, 3.0]},
    "workbench.dynamic.cascade_outcome": {"y": labels, "threshold": lambda: 0.5},
    "workbench.dynamic.cascade_table": {"y": labels, "thresholds": lambda: [0.2, 0.5]},
    "workbench.dynamic.choose_exit": {"logits": _exit_logits, "thresholds": lambda: 0.5},
    "workbench.dynamic.count_block_calls": {"run": lambda: wb.dynamic.EarlyExitModel(early_exit_net(), 0.5),
                                            "X": lambda: images(2)},
    "workbench.dynamic.exit_accuracies": {"logits": _exit_logits},
    "workbench.dynamic.exit_examples": {"exits": lambda: 3},
    "workbench.dynamic.exit_from_scores": {"scores": lambda: [torch.rand(8), torch.rand(8), torch.rand(8)],
                                           "thresholds": lambda: 0.5},
    "workbench.dynamic.exit_logits": {"X": lambda: images(4)},
    "workbench.dynamic.exit_predictions": {"logits": _exit_logits},
    "workbench.dynamic.joint_loss": {},
    "workbench.dynamic.outcome": {"logits": _exit_logits, "thresholds": lambda: 0.5},
    "workbench.dynamic.pick_threshold": {"table": _sweep_table, "full_accuracy": lambda: 0.1},
    "workbench.dynamic.sweep": {"logits": _exit_logits, "thresholds": lambda: [0.1, 0.5]},
    "workbench.dynamic.show_exit_gallery": {"chosen": lambda: torch.arange(64) % 3, "per_exit": lambda: 2},
    "workbench.dynamic.show_tradeoff": {"curves": lambda: {"a": [(1.0, 0.5), (2.0, 0.9)]}},
    "workbench.dynamic.scaled": {"channels": lambda: (16, 32)},
    "workbench.dynamic.ExitPath": {"exit": lambda: 0},
    "workbench.efficient.FireBlock": {}, "workbench.efficient.ShuffleBlock": {"c_in": lambda: 8, "c_out": lambda: 16},
    "workbench.efficient.block_costs": {},
    "workbench.efficient.channel_shuffle": {"x": lambda: torch.randn(2, 8, 3, 3), "groups": lambda: 2},
    "workbench.efficient.cheap_and_close": {"table": _grid_table},
    "workbench.efficient.grid_table": {"grid": lambda: {(0.25, 14): wb.efficient.build_net("separable", 0.25, 14)}},
    "workbench.efficient.shuffle_table": {"nets": lambda: {("shuffle", 0): wb.efficient.build_net("shuffle", 0.5, 20)}},
    "workbench.efficient.mac_shares": {}, "workbench.efficient.macs_by_kind": {},
    "workbench.efficient.separable_macs": {"w": lambda: 7}, "workbench.efficient.standard_macs": {"w": lambda: 7},
    "workbench.encodings.canonical_codes": {}, "workbench.encodings.cluster": {"values": lambda: np.linspace(-1, 1, 40)},
    "workbench.encodings.compare_encodings": {"model": lambda: model("lenet300"), "names": lambda: ["fp32", "csr"]},
    "workbench.encodings.decoded_model": {"model": lambda: model("lenet300"),
                                          "blob": lambda: wb.encode(model("lenet300"), "fp32")},
    "workbench.encodings.header": {}, "workbench.encodings.is_lossless": {},
    "workbench.encodings.huffman_symbols": {"lengths": lambda: np.array([1, 2, 3, 3]),
                                            "payload": lambda: _codes_payload()[0],
                                            "nbits": lambda: _codes_payload()[1], "count": lambda: 5},
    "workbench.encodings.pack_codes": {"symbols": lambda: np.array([0, 1, 2, 3, 2])},
    "workbench.encodings.pack_bits": {"values": lambda: np.array([0, 1, 2, 3, 2]), "bits": lambda: 2},
    "workbench.encodings.unpack_bits": {"payload": lambda: b"\x1b\x80", "bits": lambda: 2, "count": lambda: 5},
    "workbench.encodings.register_codec": {"name": lambda: "sweep_codec", "encode": lambda: lambda t: ({}, b""),
                                           "decode": lambda: lambda m, p, s, d: torch.zeros(s),
                                           "lossless": lambda: False},
    "workbench.encodings.register_encoding": {"name": lambda: "sweep_encoding", "policy": lambda: lambda n, t: "raw"},
    "workbench.encodings.shared_values": {"t": lambda: torch.randn(12, 10)},
    "workbench.encodings.torch_save_bytes": {},
    "workbench.explorer.pareto_front": {},
    "workbench.lowrank.Decomposer": {"model": lambda: model("lenet300")},
    "workbench.lowrank.cp_conv": {"rank": lambda: 4},
    "workbench.lowrank.decompose": {"model": lambda: model("lenet300"), "energy": lambda: 0.8},
    "workbench.lowrank.factorable_layers": {},
    "workbench.lowrank.spatial_conv": {"rank": lambda: 4},
    "workbench.lowrank.svd_linear": {},
    "workbench.lowrank.truncated": {}, "workbench.lowrank.truncation_error": {},
    "workbench.lowrank.tucker_conv": {},
    "workbench.lowrank.weight_count": {"rank": lambda: 4},
    "workbench.lowrank.decompositions.cp": {"n_iter_max": lambda: 5},
    "workbench.lowrank.decompositions.cp_to_kernel": {"weights": lambda: torch.ones(4),
                                                      "factors": lambda: [torch.randn(16, 4), torch.randn(8, 4),
                                                                          torch.randn(3, 4), torch.randn(3, 4)]},
    "workbench.lowrank.decompositions.relative_error": {"approx": lambda: torch.randn(4, 4),
                                                        "exact": lambda: torch.randn(4, 4)},
    "workbench.lowrank.decompositions.tucker2": {"n_iter_max": lambda: 2},
    "workbench.lowrank.decompositions.tucker2_to_kernel": {"core": lambda: torch.randn(4, 4, 3, 3),
                                                           "factors": lambda: (torch.randn(16, 4), torch.randn(8, 4))},
    "workbench.lowrank.experiments.compare_methods": {"ranks": lambda: {"spatial": 4}, "input_shape": lambda: (8, 7, 7)},
    "workbench.lowrank.experiments.kernel_of": {"layer": lambda: wb.lowrank.spatial_conv(nn.Conv2d(8, 16, 3), 4)},
    "workbench.precision.FlushCounter": {},
    "workbench.precision.LowPrecision": {},
    "workbench.precision.autocast_dtypes": {"X": lambda: images(2)},
    "workbench.precision.bit_fields": {"value": lambda: 1.0}, "workbench.precision.bit_pattern": {"value": lambda: 1.0},
    "workbench.precision.decode_bits": {"bits": lambda: 0x3C00},
    "workbench.precision.encode_bits": {"value": lambda: 1.0},
    "workbench.precision.make_scaler": {"scaling": lambda: "dynamic"},
    "workbench.precision.round_to": {"x": lambda: torch.randn(10)},
    "workbench.precision.rounding_table": {"value": lambda: 0.1},
    "workbench.precision.step_memory": {"X": lambda: images(4), "y": lambda: labels(4)},
    "workbench.pruning.apply_masks": {"masks": lambda: {f"{k}.weight": (v > v.median()).float()
                                                        for k, v in _scores_l1().items()}},
    "workbench.pruning.channel_groups": {},
    "workbench.pruning.channel_scores": {"model": lambda: model("vgg")},
    "workbench.pruning.keep_masks": {},
    "workbench.pruning.mask_channels": {"model": lambda: model("vgg"), "keep": lambda: _vgg_keep()},
    "workbench.pruning.remove_channels": {"model": lambda: model("vgg"), "keep": lambda: _vgg_keep()},
    "workbench.pruning.prune_channels": {"model": lambda: model("vgg"), "scores": lambda: _channel_scores()},
    "workbench.regularization.conv_macs": {},
    "workbench.regularization.prox_group": {"weight": lambda: torch.randn(8, 4, 3, 3)},
    "workbench.sharing.Recipe": {"amounts": lambda: (0.5, 0.5)},
    "workbench.sharing.breakdown": {"model": lambda: model("lenet300")},
    "workbench.sharing.centroid_gradient": {"grad": lambda: torch.randn(12, 10), "index": lambda: torch.randint(0, 4, (12, 10)),
                                            "k": lambda: 4},
    "workbench.sharing.compression_rate": {"n": lambda: 1000, "bits": lambda: 4, "k": lambda: 16},
    "workbench.sharing.encode_tensor": {"t": lambda: torch.randn(12, 10) * (torch.rand(12, 10) > 0.5)},
    "workbench.sharing.filler_table": {"model": lambda: model("lenet300"), "widths": lambda: (3, 4)},
    "workbench.sharing.hash_share": {"bits": lambda: 3},
    "workbench.sharing.init_centroids": {}, "workbench.sharing.kmeans_1d": {"max_iter": lambda: 5},
    "workbench.sharing.positions": {"gaps": lambda: np.array([0, 2, 1]), "filler": lambda: np.array([False, False, False])},
    "workbench.sharing.rate_check": {"weight": lambda: torch.randn(12, 10), "bits_list": lambda: (2, 3)},
    "workbench.sharing.relative_indices": {"pos": lambda: np.array([0, 3, 40]), "index_bits": lambda: 4},
    "workbench.sharing.share": {"weights": lambda: np.random.default_rng(0).normal(size=200).astype(np.float32),
                                "bits": lambda: 3},
    "workbench.sharing.share_weights": {"model": lambda: model("lenet300")},
}


def wb_quant():
    import workbench.quantization as q
    return q


def _vgg_keep():
    from workbench import pruning
    return pruning.keep_masks(_channel_scores(), 0.5)


def _measurement():
    return wb.Measurement(accuracy=0.9, params=10, nonzeros=10, size_bytes=40, encoding="fp32", macs=10)


# ---------------------------------------------------------------- bad values
BAD_RANGES: dict[str, list] = {   # out-of-range values by parameter name (the valid range is declared)
    "amount": [1.5, -0.1], "bits": [0, 64], "fraction": [1.5, -0.1], "energy": [1.5, 0.0],
    "temperature": [0.0, -1.0], "alpha": [1.5, -0.1], "lr": [0.0, -1.0], "num_epochs": [-1],
    "batch_size": [0], "rank": [0], "k": [0], "lam": [-1.0], "threshold": [-1.0], "p": [-1.0, 0.0],
    "per_class": [0], "sparsity": [1.5], "splice_fraction": [1.5], "max_layer_amount": [1.5],
    "min_keep": [-1], "repeats": [0], "index_bits": [0], "conv_bits": [0], "fc_bits": [0],
    "max_iter": [0], "n_iter_max": [0], "width": [0.0], "tol": [-1.0], "digit": [10, -1],
    "workbench.efficient.TinyNet:alpha": [0.0], "workbench.efficient.build_net:alpha": [0.0],
    "workbench.efficient.scaled_widths:alpha": [0.0], "workbench.efficient.train_net:alpha": [0.0],
    "workbench.efficient.shuffle_comparison:alpha": [0.0], "workbench.regularization.train_dropconnect:p": [1.0, -0.1], "workbench.precision.decode_bits:bits": [-1],
    "c_in": [0], "c_out": [0], "kernel_size": [0], "groups": [0], "stride": [0], "squeeze_ratio": [1.5],
    "resolution": [0], "exits": [0], "per_exit": [0], "seed": [-1], "num_classes": [0],
}
FREE_TEXT = {"title", "desc", "description", "text", "note", "label", "name"}
_ELEMENTWISE = {"shape"}   # works elementwise (or on the flattened values): any shape is valid
ALLOWED: dict[str, set[str]] = {      # "qualified name:parameter" -> bad-value classes that are valid there
    **{f"workbench.quantization.binary.{f}:w": _ELEMENTWISE
       for f in ("sign", "binaryconnect", "xnor", "ternary", "horq", "binarize", "binarize_ste")},
    **{f"workbench.quantization.affine.{f}:x": _ELEMENTWISE for f in ("tensor_range", "scale_zero_point",
                                                                     "quantize_tensor")},
    **{f"workbench.quantization.calibration.{f}:x": _ELEMENTWISE
       for f in ("minmax_range", "percentile_range", "mse_range", "calibrate_range")},
    "workbench.quantization.fake.weight_levels:w": _ELEMENTWISE,
    "workbench.quantization.packing.packed_encode:t": _ELEMENTWISE,
    "workbench.regularization.soft_threshold:w": _ELEMENTWISE,
    **{f"workbench.precision.{f}:grads": _ELEMENTWISE for f in ("FlushCounter", "flush_fractions",
                                                               "largest_safe_scale", "log2_histogram", "scale_sweep")},
    "workbench.sharing.centroid_gradient:grad": _ELEMENTWISE, "workbench.sharing.centroid_gradient:index": _ELEMENTWISE,
    "workbench.sharing.encode_tensor:t": _ELEMENTWISE, "workbench.sharing.rate_check:weight": _ELEMENTWISE,
    "workbench.encodings.rows:t": _ELEMENTWISE, "workbench.encodings.shared_values:t": _ELEMENTWISE,
    # number formats show what nan and ±inf become (bit patterns, rounding): they are valid values there
    **{f"workbench.precision.{f}:value": {"nan", "inf", "-inf"}
       for f in ("bit_fields", "bit_pattern", "encode_bits", "rounding_table")},
    "workbench.precision.round_to:x": {"nan", "shape"},
    # an infinite threshold means "never exit early" / "never defer": documented, tested in test_dynamic
    **{f"workbench.dynamic.{f}": {"inf"} for f in ("Cascade:threshold", "EarlyExitModel:thresholds",
                                                   "cascade_outcome:threshold", "choose_exit:thresholds",
                                                   "exit_from_scores:thresholds", "outcome:thresholds")},
    # elementwise with a per-tensor scale and zero point: any shape of x, and a scale that broadcasts
    **{f"workbench.quantization.{f}:{a}": _ELEMENTWISE
       for f in ("affine.quantize", "affine.fake_quantize", "affine.quantization_error", "fake.fake_quantize_ste")
       for a in ("x", "scale", "zero_point")},
    **{f"workbench.quantization.affine.dequantize:{a}": _ELEMENTWISE for a in ("q", "scale", "zero_point")},
    **{f"workbench.quantization.affine.qparams:{a}": _ELEMENTWISE for a in ("lo", "hi")},
    **{f"workbench.quantization.integer.{f}": _ELEMENTWISE
       for f in ("rounding_doubling_high_mul:a", "rounding_doubling_high_mul:M0", "rounding_right_shift:x",
                 "rounding_right_shift:shift", "requantize:acc", "requantize:M0", "requantize:shift")},
    # softmax / entropy over the last dimension: any batch shape in front of it is valid
    **{f"workbench.{f}:logits": _ELEMENTWISE for f in ("distillation.soften", "dynamic.doubt", "dynamic.entropy",
                                                       "dynamic.uncertainty")},
}


@dataclass
class Bad:
    param: str
    cls: str          # none, type, nan, inf, -inf, range, empty, shape, mask, choice, unknown-kw, corrupt
    value: Any


def _annotation_allows_none(p: inspect.Parameter) -> bool:
    ann = p.annotation
    text = ann if isinstance(ann, str) else repr(ann)
    return p.default is None or "None" in text or "Optional" in text or ann is inspect.Parameter.empty and p.default is None


def declared(fn: Callable) -> dict:
    """What ``@checked`` on ``fn`` declares valid (``empty_ok``, ``allow_nan``), if anything."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    return getattr(target, "__checked__", {})


def bad_values(qual: str, p: inspect.Parameter, valid: Any, fn: Callable | None = None) -> list[Bad]:
    name = p.name
    decl = declared(fn) if fn is not None else {}
    allowed = set(ALLOWED.get(f"{qual}:{name}", set()))
    if name in decl.get("empty_ok", ()):
        allowed.add("empty")                # the function declares empty input valid (an empty layer)
    if name in decl.get("allow_nan", ()):
        allowed |= {"nan", "inf", "-inf"}   # the function declares nan/inf meaningful there
    out: list[Bad] = []
    if isinstance(valid, bool):
        return out
    if not _annotation_allows_none(p) and valid is not None:
        out.append(Bad(name, "none", None))
    if isinstance(valid, (int, float)):
        out.append(Bad(name, "type", "abc"))
        out += [Bad(name, "nan", math.nan), Bad(name, "inf", math.inf), Bad(name, "-inf", -math.inf)]
        out += [Bad(name, "range", v) for v in BAD_RANGES.get(f"{qual}:{name}", BAD_RANGES.get(name, []))]
    elif isinstance(valid, torch.Tensor):
        out.append(Bad(name, "type", "abc"))
        out.append(Bad(name, "empty", valid.new_empty((0,) * max(valid.ndim, 1))))
        out.append(Bad(name, "shape", valid[None, ..., None]))
        if valid.is_floating_point() and valid.numel():
            t = valid.clone()
            t.view(-1)[0] = math.nan
            out.append(Bad(name, "nan", t))
        if "mask" in name:
            out += [Bad(name, "mask", torch.full_like(valid, 0.5, dtype=torch.float32))]
    elif isinstance(valid, np.ndarray):
        out.append(Bad(name, "type", "abc"))
        out.append(Bad(name, "empty", valid[:0]))
        if np.issubdtype(valid.dtype, np.floating) and valid.size:
            a = valid.copy()
            a.flat[0] = np.nan
            out.append(Bad(name, "nan", a))
    elif isinstance(valid, (nn.Module, wb.Dataset)):
        out += [Bad(name, "type", "abc"), Bad(name, "type", 3)]
    elif isinstance(valid, str):
        out.append(Bad(name, "type", 3))
        if name not in FREE_TEXT:
            out.append(Bad(name, "choice", "no-such-choice"))
    elif isinstance(valid, (bytes, bytearray)):
        out += [Bad(name, "type", "abc"), Bad(name, "corrupt", bytes(valid[: len(valid) // 2]))]
    elif isinstance(valid, dict):
        out.append(Bad(name, "type", 3))
        if name in ("masks",):
            out.append(Bad(name, "mask", {k: torch.full_like(v, 0.5) for k, v in valid.items()}))
            out.append(Bad(name, "mask", {k: torch.full_like(v, 2.0) for k, v in valid.items()}))
        if name in ("scores",) and valid:
            k0 = next(iter(valid))
            nan = {k: v.clone() for k, v in valid.items()}
            nan[k0].view(-1)[0] = math.nan
            out.append(Bad(name, "nan", nan))
    elif isinstance(valid, (list, tuple)):
        out.append(Bad(name, "type", 3))
    elif callable(valid):
        out.append(Bad(name, "type", 3))
    return [b for b in out if b.cls not in allowed]


# ---------------------------------------------------------------- running
class _Timeout(BaseException):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _call(fn: Callable, kwargs: dict, positional: list[str]):
    args = [kwargs.pop(n) for n in positional if n in kwargs]
    return fn(*args, **kwargs)


@dataclass
class Result:
    qual: str
    bad: Bad
    outcome: str            # GOOD, ACCEPTED, RAW
    detail: str = ""
    inside_library: bool = False


@dataclass
class Sweep:
    results: list[Result] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)      # public callables with no example and no exemption
    broken: list[str] = field(default_factory=list)       # examples that fail with valid arguments
    seconds: float = 0.0

    def counts(self) -> Counter:
        return Counter(r.outcome for r in self.results)

    def summary(self) -> str:
        c = self.counts()
        total = len(self.results)
        good = c["GOOD"] / total if total else 1.0
        lines = [f"bad calls: {total}  GOOD {c['GOOD']} ({good:.1%})  ACCEPTED {c['ACCEPTED']}  RAW {c['RAW']}"
                 f"  (of which inside a library {sum(r.inside_library for r in self.results)})"
                 f"  functions: {len({r.qual for r in self.results})}  in {self.seconds:.1f} s"]
        lines += [f"  no example: {q}" for q in self.missing]
        lines += [f"  example fails: {b}" for b in self.broken]
        lines += [f"  {r.outcome:8s} {r.qual}({r.bad.param}={_short(r.bad.value)}) [{r.bad.cls}] {r.detail}"
                  for r in self.results if r.outcome != "GOOD"]
        return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor{tuple(v.shape)}"
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    if isinstance(v, dict):
        return "{…}"
    if isinstance(v, bytes):
        return f"bytes[{len(v)}]"
    return repr(v)[:30]


def _in_library(err: BaseException) -> bool:
    tb = traceback.extract_tb(err.__traceback__)
    return bool(tb) and ("site-packages" in tb[-1].filename or "/lib/python" in tb[-1].filename)


def classify(err: BaseException | None, param: str) -> tuple[str, str, bool]:
    if err is None:
        return "ACCEPTED", "", False
    if isinstance(err, _Timeout):
        return "ACCEPTED", f"(still running after {TIMEOUT_S:g} s)", False
    text = f"{type(err).__name__}: {str(err)[:160]}"
    inside = _in_library(err)
    if isinstance(err, (ValueError, TypeError)) and not inside and re.search(rf"(?<![\w.]){re.escape(param)}(?!\w)", str(err)):
        return "GOOD", text, False
    return "RAW", text, inside


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def example(qual: str, fn: Callable):
    """``(kwargs factories, positional-only names, signature)`` or ``None`` if no example."""
    over = OVERRIDES.get(qual, {})
    if over is NO_EXAMPLE:
        return None
    sig = _signature(fn)
    if sig is None:
        return None
    factories: dict[str, Callable[[], Any]] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in over:
            factories[p.name] = over[p.name]
        elif p.default is p.empty:
            if p.name not in VALID:
                return None
            factories[p.name] = VALID[p.name]
    positional = [p.name for p in sig.parameters.values() if p.kind == p.POSITIONAL_ONLY]
    return factories, positional, sig


def _run(fn, kwargs, positional, timeout: float = TIMEOUT_S):
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _call(fn, kwargs, positional)
        return None
    except Exception as err:  # noqa: BLE001 - classifying what the learner would see
        return err
    except _Timeout as err:
        return err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_sweep(only: Callable[[str], bool] = lambda q: True) -> Sweep:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.set_num_threads(1)
    old = signal.signal(signal.SIGALRM, _alarm)
    sweep = Sweep()
    start = time.perf_counter()
    try:
        for qual, fn in public_api().items():
            if (qual in EXEMPT and qual not in FRONT_DOOR) or not only(qual):
                continue
            ex = example(qual, fn)
            if ex is None:
                sweep.missing.append(qual)
                continue
            factories, positional, sig = ex
            kwargs = {k: f() for k, f in factories.items()}
            err = None if qual in FRONT_DOOR else _run(fn, dict(kwargs), positional, EXAMPLE_TIMEOUT_S)
            plt.close("all")
            if err is not None:
                sweep.broken.append(f"{qual}: {type(err).__name__}: {str(err)[:200]}")
                continue
            for p in sig.parameters.values():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    continue
                valid = kwargs[p.name] if p.name in kwargs else p.default
                for bad in bad_values(qual, p, valid, fn):
                    call = {k: f() for k, f in factories.items()}
                    call[p.name] = bad.value
                    outcome, detail, inside = classify(_run(fn, call, positional), p.name)
                    sweep.results.append(Result(qual, bad, outcome, detail, inside))
                    plt.close("all")
            call = {k: f() for k, f in factories.items()}
            call["bitz"] = 4
            bad = Bad("bitz", "unknown-kw", 4)
            outcome, detail, inside = classify(_run(fn, call, positional), "bitz")
            sweep.results.append(Result(qual, bad, outcome, detail, inside))
    finally:
        signal.signal(signal.SIGALRM, old)
    sweep.seconds = time.perf_counter() - start
    return sweep


if __name__ == "__main__":
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    result = run_sweep(lambda q: pattern in q)
    print(result.summary())
