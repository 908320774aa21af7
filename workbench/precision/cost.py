"""What a format buys, measured: time per training step, memory per step, bytes of weights.

Speed depends on the hardware, so it is detected, printed and measured, never assumed:
bf16 autocast on a CPU is fast only where oneDNN has native bf16 kernels (AVX512-BF16
or AMX); fp16 on a CPU is emulated in most builds and slow::

    >>> sorted(cpu_support())
    ['bf16 native (oneDNN)', 'cpu capability', 'cuda', 'fp16 native (oneDNN)']

Memory is counted tensor by tensor (PyTorch has no CPU allocator statistics):
weights, gradients, optimiser state and the activations autograd saves for the
backward pass, which is where 16-bit compute saves most. On a GPU the benchmark
also reads the allocator's true peak (``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_int, checked
from ..latency import Latency
from .training import PRECISIONS, autocast, make_scaler, training_step


def cpu_support() -> dict[str, object]:
    """What this machine offers for 16-bit compute, as PyTorch reports it."""
    mkldnn = torch.ops.mkldnn
    bf16 = getattr(mkldnn, "_is_mkldnn_bf16_supported", None)
    fp16 = getattr(mkldnn, "_is_mkldnn_fp16_supported", None)
    return {"cpu capability": torch.backends.cpu.get_cpu_capability(),
            "bf16 native (oneDNN)": bool(bf16()) if bf16 else False,
            "fp16 native (oneDNN)": bool(fp16()) if fp16 else False,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else "none"}


@checked
def speed_ratio(reference_ms: float, ms: float) -> str:
    """How much faster (or slower) ``ms`` is than ``reference_ms``, worded as the report words it.

    >>> speed_ratio(10.0, 5.0), speed_ratio(10.0, 40.0)
    ('2.00× faster', '4.00× slower')
    """
    if not (reference_ms > 0 and ms > 0):
        raise ValueError(f"reference_ms and ms must be > 0, got {reference_ms!r} and {ms!r}")
    r = reference_ms / ms
    return f"{r:.2f}× faster" if r >= 1 else f"{1 / r:.2f}× slower"


def _summary(samples_s: list[float], batch_size: int, device: str) -> Latency:
    ms = sorted(1e3 * s for s in samples_s)
    q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) >= 4 else (ms[0], 0, ms[-1])
    return Latency(statistics.median(ms), q1, q3, len(ms), batch_size, torch.get_num_threads(), device, tuple(ms))


@checked
def time_training_steps(make_model: Callable[[], nn.Module], data, precisions: Sequence[str] = ("fp32", "bf16"),
                        *, batch_size: int = 64, warmup: int = 2, repeats: int = 10, device: str = "cpu",
                        scaling: Mapping[str, str] | None = None) -> dict[str, Latency]:
    """Median time of one full training step per precision, interleaved round by round.

    Each precision trains its own model from ``make_model()`` on the same batch
    (forward under autocast, backward, Adam update); a burst of background load
    hits all of them alike, so the ratios stay meaningful.

    >>> from workbench import data, models
    >>> out = time_training_steps(lambda: models.build("lenet300"), data.load("digits"), repeats=2, warmup=1)
    >>> sorted(out), out["bf16"].runs
    (['bf16', 'fp32'], 2)
    """
    check_int("batch_size", batch_size, 1)
    check_int("warmup", warmup, 0)
    check_int("repeats", repeats, 1)
    if not precisions:
        raise ValueError("precisions must name at least one precision")
    for p in precisions:
        check_choice("precisions", p, PRECISIONS, what="precision")
    from ..latency import check_device
    dev = check_device(device)
    X, y = data.X_train[:batch_size].to(dev), data.y_train[:batch_size].to(dev)
    runs = {}
    for p in precisions:
        model = make_model().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        scaler = make_scaler((scaling or {}).get(p, "none"))
        if dev.type != "cpu" and PRECISIONS[p] is not None:
            runs[p] = _cuda_step(model, opt, X, y, p)
        else:
            runs[p] = lambda m=model, o=opt, s=scaler, p=p: training_step(m, o, X, y, precision=p, scaler=s)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    samples: dict[str, list[float]] = {p: [] for p in precisions}
    for _ in range(warmup):
        for run in runs.values():
            run()
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for p, run in runs.items():
                sync()
                t = time.perf_counter()
                run()
                sync()
                samples[p].append(time.perf_counter() - t)
    finally:
        if was:
            gc.enable()
    return {p: _summary(samples[p], batch_size, dev.type) for p in precisions}


def _cuda_step(model, opt, X, y, precision):
    dtype = PRECISIONS[precision]
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")

    def run():
        with torch.autocast("cuda", dtype=dtype):
            loss = F.cross_entropy(model(X), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return run


def _nbytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:                  # a view (a batch sliced from the dataset) counts its own bytes only
        key = (t.data_ptr(), t.numel() * t.element_size())
        if key not in seen:
            seen.add(key)
            total += key[1]
    return total


@checked(fits=("model", "X"), ndim={"y": 1})
def step_memory(model: nn.Module, X: Tensor, y: Tensor, precision: str = "fp32") -> dict[str, int]:
    """Bytes held during one Adam training step, counted tensor by tensor.

    ``activations`` are the tensors autograd saves in the forward pass for the backward
    pass (under autocast: the 16-bit activations and the 16-bit copies of the weights);
    ``total`` adds them to the fp32 weights, gradients and optimiser state: what is
    alive at once at the end of the forward pass of a step after the first.

    >>> from workbench import models
    >>> m = step_memory(models.build("lenet5"), torch.zeros(8, 1, 28, 28), torch.zeros(8, dtype=torch.long))
    >>> m["weights"] == m["gradients"] == m["optimizer state"] // 2
    True
    """
    check_choice("precision", precision, PRECISIONS)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    saved: list[Tensor] = []
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        with autocast(precision):
            loss = F.cross_entropy(model(X), y)
    param_keys = {p.data_ptr() for p in params}
    activations = _nbytes(t for t in saved if t.data_ptr() not in param_keys)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    state = [v for s in opt.state.values() for v in s.values() if isinstance(v, Tensor) and v.numel() > 1]
    out = {"weights": _nbytes(params), "gradients": _nbytes(p.grad for p in params if p.grad is not None),
           "optimizer state": _nbytes(state), "activations": activations}
    out["total"] = sum(out.values())
    model.zero_grad(set_to_none=True)
    return out


@checked
class LowPrecision(nn.Module):
    """Inference in 16 bits: the wrapped model's weights stored and computed in ``dtype``.

    Inputs are cast to ``dtype`` on the way in and logits back to fp32 on the way out, so
    it drops in wherever an fp32 model is measured.

    >>> from workbench import models
    >>> m = LowPrecision(models.build("lenet5"), torch.bfloat16)
    >>> m(torch.zeros(1, 1, 28, 28)).dtype, next(m.parameters()).dtype
    (torch.float32, torch.bfloat16)
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        if dtype not in (torch.bfloat16, torch.float16, torch.float32):
            raise ValueError(f"dtype must be torch.bfloat16, torch.float16 or torch.float32, got {dtype}")
        self.model = model.to(dtype)
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.to(self.dtype)).float()
