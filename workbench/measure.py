"""One measurement per model: accuracy, parameters, non-zeros, bytes, MACs, latency.

    >>> from workbench import data, models
    >>> ds = data.load("digits")
    >>> m = measure(models.build("lenet300"), ds, latency_batches=())
    >>> m.params, m.size_bytes > 4 * m.params
    (266610, True)

Accuracy is measured on what the encoding stores: for a lossy encoding (int8,
fp16, k-means codebooks) the model is decoded from the bytes first, so the size
and the accuracy in a row always describe the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from torch import nn

from . import encodings
from ._checks import check_choice, check_int, checked
from .latency import Latency, compare_latency
from .metrics import count_macs, count_nonzero, count_params
from .train import evaluate

Encoding = str | Sequence[str]


@dataclass(frozen=True)
class Measurement:
    """What one model costs and how well it does."""

    accuracy: float            # top-1 on held-out data, a fraction
    params: int                # parameters of the deployed model
    nonzeros: int              # of which non-zero
    size_bytes: int            # bytes of the encoding below
    encoding: str              # which encoding the bytes are
    macs: int                  # multiply-accumulates per example, dense kernels
    latency: dict[int, Latency] = field(default_factory=dict)  # batch size -> latency
    eval_examples: int = 0     # how many held-out examples the accuracy is on

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.params if self.params else 0.0

    def latency_ms(self, batch_size: int) -> float | None:
        """Median milliseconds per batch of ``batch_size``, if measured."""
        lat = self.latency.get(batch_size)
        return lat.median_ms if lat else None


def encode_best(model: nn.Module, encoding: Encoding, **options) -> tuple[str, bytes]:
    """Encode with ``encoding`` (or the smallest of several); returns ``(name, blob)``."""
    names = [encoding] if isinstance(encoding, str) else list(encoding)
    if not names:
        raise ValueError("encoding must name at least one encoding")
    for name in names:
        check_choice("encoding", name, encodings.ENCODINGS, what="encoding")
    blobs = {name: encodings.encode(model, name, **options) for name in names}
    best = min(blobs, key=lambda n: len(blobs[n]))
    return best, blobs[best]


def measure_static(model: nn.Module, data, *, encoding: Encoding = "fp32", split: str = "test",
                   macs: int | None = None, **options) -> Measurement:
    """Everything but latency: accuracy (on the decoded model), counts, bytes, MACs.

    Pass ``macs`` when already known (the explorer caches it per architecture).
    """
    name, blob = encode_best(model, encoding, **options)
    stored = model if encodings.is_lossless(blob) else encodings.decoded_model(model, blob)
    X, y = data.split(split)
    return Measurement(
        accuracy=evaluate(stored, X, y), params=count_params(model), nonzeros=count_nonzero(stored),
        size_bytes=len(blob), encoding=name, macs=count_macs(model, data.input_shape) if macs is None else macs,
        eval_examples=len(y))


@checked
def measure_all(models: Mapping[str, nn.Module], data, *, encoding: Encoding | Mapping[str, Encoding] = "fp32",
                latency_batches: Sequence[int] = (1, 32), repeats: int = 30, warmup: int = 5,
                budget_s: float | None = None, threads: int | None = None, split: str = "test",
                channels_last: bool = False, **options) -> dict[str, Measurement]:
    """Measure several models; their latencies are interleaved so ratios are fair.

    ``encoding`` may differ per model (a mapping from model name): the dense baseline
    as ``fp32``, the pruned one as ``csr``, say.
    """
    if not models:
        raise ValueError("models must hold at least one model")
    if not (isinstance(encoding, (str, Mapping, list, tuple)) or callable(encoding)):
        raise TypeError(f"encoding must be an encoding name, a policy function, a list of them (the smallest "
                        f"is chosen), or a mapping from model name to any of these, got {type(encoding).__name__}")
    for b in latency_batches:
        check_int("latency_batches", b, 1)
    static = {}
    for name, model in models.items():
        enc = encoding.get(name, "fp32") if isinstance(encoding, Mapping) else encoding
        static[name] = measure_static(model, data, encoding=enc, split=split, **options)
    latencies: dict[str, dict[int, Latency]] = {name: {} for name in models}
    for b in latency_batches:
        timed = compare_latency(models, data.input_shape, batch_size=b, repeats=repeats, warmup=warmup,
                                budget_s=budget_s, threads=threads, channels_last=channels_last)
        for name, lat in timed.items():
            latencies[name][b] = lat
    return {name: _with_latency(static[name], latencies[name]) for name in models}


@checked
def measure(model: nn.Module, data, **kwargs) -> Measurement:
    """Measure one model (see :func:`measure_all` for the options)."""
    return measure_all({"model": model}, data, **kwargs)["model"]


def _with_latency(m: Measurement, latency: dict[int, Latency]) -> Measurement:
    return Measurement(**{**m.__dict__, "latency": dict(latency)})
