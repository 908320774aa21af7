"""Real int8 inference on the CPU with PyTorch's quantized kernels, measured against fp32.

One function, :func:`to_int8`, hides the choice of backend:

- ``"eager"``: ``torch.ao.quantization`` eager mode — fuse conv-BN-ReLU, wrap in
  ``QuantStub``/``DeQuantStub`` (``QuantWrapper``), x86 qconfig (per-channel int8
  weights, histogram-calibrated uint8 activations), prepare -> calibrate -> convert.
  Deprecated in favour of torchao, but it still works and runs FBGEMM/oneDNN int8
  kernels without a compiler; its module saves as int8 (``torch.save``).
- ``"pt2e"``: the supported path, torchao's PT2E: ``torch.export`` ->
  ``prepare_pt2e`` (``X86InductorQuantizer``) -> calibrate -> ``convert_pt2e`` ->
  ``torch.compile`` with inductor freezing. Without the compiler it is slower than
  fp32; compiling costs tens of seconds per model and batch size on two cores, so
  the notebook leaves it to ``benchmarks/quantization.py``.

A speedup needs a named baseline: :func:`compare` times fp32 eager, fp32 in
channels-last (the layout oneDNN prefers: "the same help" the int8 kernels get
for free), and with ``compiled=True`` fp32 compiled with the same freezing, all
interleaved::

    >>> import workbench as wb
    >>> ds = wb.load("digits")
    >>> int8 = to_int8(wb.get_baseline("lenet5"), ds.X_val[:100])
    >>> type(int8.module.features[0]).__name__
    'ConvReLU2d'
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import encodings
from .._checks import check_choice, check_int, checked
from ..latency import compare_latency
from ..measure import Measurement
from ..metrics import check_input_fits, count_macs, count_nonzero, count_params
from ..train import evaluate
from ..weights import plain_copy

BACKENDS = ("eager", "pt2e")
_FUSABLE = [(nn.Conv2d, nn.BatchNorm2d, nn.ReLU), (nn.Conv2d, nn.BatchNorm2d), (nn.Conv2d, nn.ReLU),
            (nn.Linear, nn.BatchNorm1d), (nn.Linear, nn.ReLU)]


@contextlib.contextmanager
def _quiet():
    """Silence the deprecation notices of ``torch.ao.quantization`` (the lesson says it once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@checked
def fusion_groups(model: nn.Module) -> list[list[str]]:
    """Names of consecutive conv-BN-ReLU / conv-BN / conv-ReLU / linear-ReLU modules to fuse.

    >>> from workbench import models
    >>> fusion_groups(models.build("vgg"))[0]
    ['features.0', 'features.1', 'features.2']
    """
    groups = []
    for parent_name, parent in model.named_modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        i = 0
        while i < len(children):
            for pattern in _FUSABLE:
                window = children[i:i + len(pattern)]
                if len(window) == len(pattern) and all(isinstance(m, t) for (_, m), t in zip(window, pattern)):
                    groups.append([f"{parent_name}.{n}" if parent_name else n for n, _ in window])
                    i += len(pattern) - 1
                    break
            i += 1
    return groups


@torch.no_grad()
def _calibrate(model: nn.Module, X: Tensor, batch_size: int) -> None:
    for i in range(0, len(X), batch_size):
        model(X[i:i + batch_size])


def _eager(model: nn.Module, X: Tensor, batch_size: int) -> nn.Module:
    import torch.ao.quantization as tq

    torch.backends.quantized.engine = "x86"
    model = plain_copy(model).eval()
    with _quiet():
        groups = fusion_groups(model)
        if groups:                                   # an MLP of Linear-Tanh has nothing to fuse
            model = tq.fuse_modules(model, groups)
        wrapped = tq.QuantWrapper(model)
        wrapped.qconfig = tq.get_default_qconfig("x86")
        tq.prepare(wrapped, inplace=True)
        _calibrate(wrapped, X, batch_size)
        tq.convert(wrapped, inplace=True)
        try:
            with torch.no_grad():
                wrapped(X[:1])
        except (NotImplementedError, RuntimeError) as err:
            op = str(err).split("'")[1] if "'" in str(err) else type(err).__name__
            raise ValueError(
                f"backend='eager' cannot run this model in int8: its forward applies {op} to quantized tensors "
                "(eager mode quantizes modules only: a residual `x + y` or torch.cat in forward() must go "
                "through torch.ao.nn.quantized.FloatFunctional, as in torchvision.models.quantization). "
                "backend='pt2e' traces the whole graph instead; it handles the workbench's models.") from err
    return wrapped.eval()


def _unshare_modules(model: nn.Module) -> nn.Module:
    """``model`` with every call of a parameter-free module given its own module (an FX graph).

    torchvision's ResNet blocks call one ``ReLU`` twice; PT2E's x86 quantizer groups the
    calls of one module into one partition with two outputs and refuses it ("Input
    partition has more than one output node"). Models FX cannot trace, or whose modules
    are each called once, come back unchanged.
    """
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception:  # noqa: BLE001 - not FX-traceable: PT2E's own export decides
        return model
    calls = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    if len(calls) == len(set(calls)):
        return model
    seen: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        seen[node.target] = seen.get(node.target, -1) + 1
        module = gm.get_submodule(node.target)
        if seen[node.target] and not any(True for _ in module.parameters()) and not any(True for _ in module.buffers()):
            name = f"{node.target.replace('.', '_')}_call{seen[node.target]}"
            gm.add_submodule(name, copy.deepcopy(module))
            node.target = name
    for node in gm.graph.nodes:
        node.meta.pop("nn_module_stack", None)      # export records the new module paths
    gm.recompile()
    return gm


def _pt2e(model: nn.Module, X: Tensor, batch_size: int) -> nn.Module:
    import torch._inductor.config as inductor_config
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer, get_default_x86_inductor_quantization_config)

    model = _unshare_modules(plain_copy(model).eval())
    example = (X[:batch_size],)
    with _quiet():
        batch = torch.export.Dim("batch", min=1, max=65536)                  # any batch size, not the example's
        exported = torch.export.export(model, example, dynamic_shapes=({0: batch},)).module()
        quantizer = X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(exported, quantizer)
        _calibrate(prepared, X, batch_size)
        converted = allow_exported_model_train_eval(convert_pt2e(prepared))   # so .eval() works, as timing needs
    inductor_config.freezing = True          # int8 only pays once the weights are constants
    return torch.compile(converted, dynamic=False)        # one static graph per batch size


def to_int8(model: nn.Module, calibration_X: Tensor, *, backend: str = "eager", batch_size: int = 250) -> nn.Module:
    """A real int8 CPU model of ``model``, activation ranges calibrated on ``calibration_X`` (VAL).

    ``backend="eager"`` returns a ``QuantWrapper`` of quantized modules; ``"pt2e"`` a
    ``torch.compile`` d module (compiled on its first call, once per batch size).
    """
    check_choice("backend", backend, BACKENDS)
    check_int("batch_size", batch_size, 1)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(calibration_X, Tensor) or not calibration_X.is_floating_point():
        raise TypeError(f"calibration_X must be a float tensor of examples, got "
                        f"{getattr(calibration_X, 'dtype', type(calibration_X).__name__)}")
    if len(calibration_X) == 0:
        raise ValueError("calibration_X must hold at least one example, got 0")
    if not torch.isfinite(calibration_X).all():
        raise ValueError("calibration_X holds nan or inf values: activation ranges would be meaningless")
    check_input_fits(model, calibration_X[:1], "calibration_X")
    return (_eager if backend == "eager" else _pt2e)(model, calibration_X, batch_size)


@checked
def channels_last(model: nn.Module) -> nn.Module:
    """An fp32 copy in channels-last layout (NHWC), which oneDNN's convolutions prefer.

    >>> from workbench import models
    >>> channels_last(models.build("vgg")).features[0].weight.is_contiguous(memory_format=torch.channels_last)
    True
    """
    return copy.deepcopy(model).eval().to(memory_format=torch.channels_last)


@checked
def dynamic_int8(model: nn.Module) -> nn.Module:
    """PyTorch's *dynamic* quantization of a copy of ``model``: int8 ``nn.Linear`` weights.

    No calibration: each call quantizes the layer's input with a range measured on that
    very batch, multiplies in int8 and returns fp32. Convolutions stay fp32. The cost of
    quantizing every input is paid on every call, which a small model does not earn back.

    >>> q = dynamic_int8(nn.Sequential(nn.Linear(4, 2)))
    >>> q[0]._get_name()
    'DynamicQuantizedLinear'
    """
    with _quiet():
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


@checked
def compile_fp32(model: nn.Module) -> nn.Module:
    """fp32 compiled by inductor with freezing: the baseline that gets the same compiler help as PT2E int8.

    Compiles on the first call, once per batch size (tens of seconds on two cores)::

        fast = compile_fp32(model)      # then time it with workbench.compare_latency
    """
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    return torch.compile(copy.deepcopy(model).eval(), dynamic=False)


def size_on_disk(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())`` — the file a deployment would ship.

    For an eager int8 model this holds int8 weights; a PT2E model's state dict keeps
    fp32 copies too (measure the eager one for size).

    >>> from workbench import models
    >>> size_on_disk(models.build("lenet5")) > 4 * 61_706
    True
    """
    if hasattr(model, "_orig_mod"):                       # a torch.compile d module
        raise ValueError("model must be an eager module: a compiled PT2E model keeps fp32 weights too "
                         "(measure size on the eager int8 model)")
    return encodings.torch_save_bytes(model)


@checked
def compare(model: nn.Module, data, *, fake: nn.Module | None = None, compiled: bool = False,
            batch_sizes: Sequence[int] = (1, 32), repeats: int = 30, warmup: int = 5,
            calibration_examples: int = 500) -> dict[str, Measurement]:
    """fp32 / fake-quant / real int8 measured side by side, latencies interleaved.

    Rows: ``fp32`` (eager), ``fp32 channels-last``, ``fake-quant`` (if given),
    ``int8 eager``; with ``compiled=True`` also ``fp32 compiled`` and ``int8 PT2E
    compiled`` (tens of seconds of compilation). Sizes are ``torch.save`` bytes
    (the compiled int8 row reports the eager int8 file). Accuracy is on the test split;
    the PT2E row's accuracy is that of its converted graph before compilation.

    Example (a few seconds; notebook 04 shows the table)::

        rows = compare(wb.get_baseline("vgg"), ds, batch_sizes=(32,))
        wb.report(rows, baseline="fp32")
    """
    for b in batch_sizes:
        check_int("batch_sizes", b, 1)
    X_cal = data.X_val[:calibration_examples]
    base = model.eval()
    variants: dict[str, nn.Module] = {"fp32": base, "fp32 channels-last": channels_last(base)}
    if fake is not None:
        variants["fake-quant"] = fake.eval()
    int8 = to_int8(base, X_cal)
    variants["int8 eager"] = int8
    sizes = {name: size_on_disk(m) for name, m in variants.items()}
    accuracy = {name: evaluate(m, data.X_test, data.y_test) for name, m in variants.items()}
    if compiled:
        variants["fp32 compiled"] = compile_fp32(base)
        pt2e = to_int8(base, X_cal, backend="pt2e")
        variants["int8 PT2E compiled"] = pt2e
        sizes["fp32 compiled"], sizes["int8 PT2E compiled"] = sizes["fp32"], sizes["int8 eager"]
        accuracy["fp32 compiled"] = accuracy["fp32"]
        accuracy["int8 PT2E compiled"] = evaluate(pt2e._orig_mod, data.X_test, data.y_test)
    if compiled:                                 # compile every graph before any timing starts
        with torch.inference_mode():
            for b in batch_sizes:
                x = data.X_test[:1].repeat(b, 1, 1, 1)
                for name in ("fp32 compiled", "int8 PT2E compiled"):
                    variants[name](x)
    latency: dict[str, dict] = {name: {} for name in variants}
    for b in batch_sizes:
        timed = compare_latency(variants, data.input_shape, batch_size=b, repeats=repeats, warmup=warmup)
        for name, lat in timed.items():
            latency[name][b] = lat
    params, nonzeros = count_params(base), count_nonzero(base)
    macs = count_macs(base, data.input_shape)
    return {name: Measurement(accuracy=accuracy[name], params=params, nonzeros=nonzeros, size_bytes=sizes[name],
                              encoding="torch.save", macs=macs, latency=latency[name],
                              eval_examples=len(data.y_test))
            for name in variants}


@checked
def speedup_text(baseline_ms: float, candidate_ms: float) -> str:
    """``'2.51× faster'`` or ``'1.30× slower'``: the candidate against the baseline, as the report prints it.

    >>> speedup_text(10.0, 4.0), speedup_text(1.0, 1.3)
    ('2.50× faster', '1.30× slower')
    """
    r = baseline_ms / candidate_ms
    return f"{r:.2f}× faster" if r >= 1 else f"{1 / r:.2f}× slower"


def speedup_lines(report, candidate: str, baselines: Sequence[str], batch_sizes: Sequence[int]) -> list[str]:
    """One line per batch size and baseline: how much faster ``candidate`` is (a :class:`Report`'s rows).

    Example: ``speedup_lines(report, "int8 eager", ["fp32"], [32])`` gives
    ``["batch  32: int8 eager is 4.69× faster than fp32"]``.
    """
    t = report.table
    lines = []
    for b in batch_sizes:
        col = f"latency_ms_b{b}"
        for base in baselines:
            lines.append(f"batch {b:>3d}: {candidate} is {speedup_text(t.loc[base, col], t.loc[candidate, col])} "
                         f"than {base}")
    return lines


def results_path():
    """Where ``benchmarks/quantization.py`` writes its results (git-ignored).

    >>> results_path().name
    'quantization.json'
    """
    from ..paths import REPO_ROOT

    return REPO_ROOT / "benchmarks" / "results" / "quantization.json"


def benchmark_summary(path=None) -> str:
    """The targets as last measured by ``benchmarks/quantization.py`` on this machine, labelled as such.

    >>> benchmark_summary("/nonexistent/quantization.json").startswith("quantization.json not found")
    True
    """
    import json
    from pathlib import Path

    path = Path(path) if path is not None else results_path()
    if not path.exists():
        return (f"{path.name} not found: run `python benchmarks/quantization.py` (several minutes: it compiles "
                "fp32 and int8 with torch.compile) to measure the compiled paths on this machine.")
    res = json.loads(path.read_text())
    lines = [f"Measured by benchmarks/quantization.py on {res['when']} ({res['machine']}, {res['threads']} threads), "
             "not by this notebook:"]
    for row in res["targets"]:
        verdict = {True: "met", False: "NOT met", None: ""}[row["met"]]
        lines.append(f"  {row['target']:<58s} {row['measured']:>22s}   {verdict}")
    for line in res.get("notes", []):
        lines.append(f"  {line}")
    return "\n".join(lines)
