"""Counting what a model costs: parameters, non-zeros and multiply-accumulates.

Counts use the *effective* weights: for a model pruned with masks (a
parametrization or ``torch.nn.utils.prune``), ``weight`` is ``original * mask``.

    >>> from workbench import models
    >>> model = models.build("lenet300")
    >>> count_params(model), count_macs(model, (1, 28, 28))
    (266610, 266200)

MACs are counted by PyTorch's ``FlopCounterMode`` (2 FLOPs per MAC), on the dense
kernels that actually run: a zeroed weight still costs its MAC unless the
structure holding it is removed. ``count_macs(..., sparse=True)`` gives the
theoretical count a sparse kernel could reach, which no dense kernel delivers.

``FlopCounterMode``'s first use imports ``torch._dynamo`` (1-1.7 s of a kernel's
start). A model built only of convolutions, linear layers, matrix products and
functions that multiply nothing (activations, pooling, normalization, reshaping) is
counted by a light ``TorchFunctionMode`` with the same formulas; any other function
sends the count to ``FlopCounterMode``. The tests compare both on every model here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from ._checks import checked
from .weights import weight_tensors


@checked
def count_params(model: nn.Module) -> int:
    """Number of parameters of the deployed model (masks and duplicates not counted)."""
    return sum(t.numel() for t in weight_tensors(model).values())


@checked
def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameters (after masks)."""
    return sum(int(torch.count_nonzero(t)) for t in weight_tensors(model).values())


@checked
def sparsity(model: nn.Module) -> float:
    """Fraction of parameters that are zero, in [0, 1]."""
    total = count_params(model)
    return 1.0 - count_nonzero(model) / total if total else 0.0


def expected_input(model: nn.Module) -> str:
    """What one example for ``model`` must look like, in words, from its config or first layer.

    >>> from workbench import models
    >>> expected_input(models.build("lenet5"))
    'examples of shape (1, 28, 28)'
    """
    config = getattr(model, "config", None)
    if isinstance(config, dict) and config.get("input_shape"):
        return f"examples of shape {tuple(config['input_shape'])}"
    if isinstance(config, dict) and config.get("in_channels") and config.get("image_size"):
        size = config["image_size"]
        return f"examples of shape ({config['in_channels']}, {size}, {size})"
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return f"examples of shape ({m.in_channels}, H, W) (its first convolution takes {m.in_channels} channel{'s' if m.in_channels != 1 else ''})"
        if isinstance(m, nn.Linear):
            return f"examples of {m.in_features} values (its first layer is Linear({m.in_features}, ...))"
    return "examples of the shape its forward() expects"


def check_input_shape(name: str, input_shape) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive integers, or a ValueError naming ``name``.

    >>> check_input_shape("input_shape", [1, 28, 28])
    (1, 28, 28)
    """
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape)):
        raise ValueError(f"{name} must be the shape of one example, a tuple of positive integers such as "
                         f"(1, 28, 28), got {input_shape!r}")
    return tuple(input_shape)


def check_input_fits(model: nn.Module, x: Tensor, name: str = "input_shape") -> None:
    """Run ``model`` on ``x`` (no grad, eval); a shape mismatch becomes one sentence naming ``name``.

    >>> from workbench import models
    >>> check_input_fits(models.build("lenet5"), torch.zeros(1, 3, 28, 28))
    Traceback (most recent call last):
    ...
    ValueError: input_shape (3, 28, 28) does not fit this model, which takes examples of shape (1, 28, 28)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except RuntimeError as err:
        if not re.search(r"shape|size|channels|dimension|mat1 and mat2", str(err)):
            raise
        raise ValueError(f"{name} {tuple(x.shape[1:])} does not fit this model, which takes "
                         f"{expected_input(model)}") from err
    finally:
        model.train(was_training)


# Functions that multiply no matrices (FlopCounterMode counts nothing for them).
_NO_MACS = frozenset("""
__get__ _set_grad_enabled dim size numel zeros ones zeros_like ones_like empty to type float contiguous clone detach
view reshape flatten unflatten squeeze unsqueeze permute transpose expand __getitem__ cat stack split chunk flip pad
add add_ sub mul mul_ div __add__ __iadd__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __neg__ neg
relu relu_ relu6 hardtanh hardtanh_ gelu silu sigmoid tanh hardswish hardsigmoid leaky_relu elu softmax log_softmax
exp log sqrt rsqrt pow abs clamp clamp_ max min mean sum argmax amax
max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d
adaptive_avg_pool3d adaptive_max_pool2d batch_norm layer_norm group_norm instance_norm dropout interpolate
channel_shuffle
""".split())


def _weight(args: tuple, kwargs: dict) -> Tensor | None:
    """The weight of a conv or linear call; None for anything else (quantized ops pass packed parameters)."""
    w = args[1] if len(args) > 1 else kwargs.get("weight")
    return w if type(w) in (Tensor, nn.Parameter) and w.dim() >= 2 else None


def _conv(args: tuple, kwargs: dict, out: Tensor) -> int | None:
    w = _weight(args, kwargs)
    return None if w is None else out.numel() * w[0].numel()


def _linear(args: tuple, kwargs: dict, out: Tensor) -> int | None:
    w = _weight(args, kwargs)
    return None if w is None else out.numel() * w.shape[-1]


def _matmul(args: tuple, kwargs: dict, out: Tensor) -> int | None:
    a, b = (args + (None, None))[:2]
    plain = all(type(t) in (Tensor, nn.Parameter) and t.dim() >= 2 for t in (a, b))
    return out.numel() * a.shape[-1] if plain else None


# MACs per function: the output's size times the products summed into each output value.
_MACS = {**dict.fromkeys(("conv1d", "conv2d", "conv3d"), _conv), "linear": _linear,
         **dict.fromkeys(("matmul", "__matmul__", "mm", "bmm"), _matmul)}


class _LightMacCounter(TorchFunctionMode):
    """Counts the MACs of the functions in ``_MACS``; ``unknown`` collects every function it cannot vouch for."""

    def __init__(self):
        super().__init__()
        self.macs, self.unknown = 0, set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", repr(func))
        if name in _MACS and isinstance(out, Tensor):
            macs = _MACS[name](args, kwargs, out)
            if macs is None:
                self.unknown.add(name)
            else:
                self.macs += macs
        elif name not in _NO_MACS:
            self.unknown.add(name)
        return out


def _light_macs(model: nn.Module, x: Tensor) -> int | None:
    """The dense MAC count of ``model(x)``, or None if it calls a function the light counter does not know."""
    counter = _LightMacCounter()
    with counter, torch.no_grad():
        model(x)
    return None if counter.unknown else counter.macs


@checked
def count_macs(model: nn.Module, input_shape: Sequence[int], *, sparse: bool = False) -> int:
    """Multiply-accumulates of one forward pass on one example of ``input_shape`` (C, H, W).

    ``sparse=True`` scales each conv/linear layer's MACs by its weight density: the
    count a sparse kernel could reach. Dense kernels still do the full count.

    >>> from workbench import models
    >>> count_macs(models.build("lenet5"), (1, 8, 8))
    Traceback (most recent call last):
    ...
    ValueError: input_shape (1, 8, 8) does not fit this model, which takes examples of shape (1, 28, 28)
    """
    input_shape = check_input_shape("input_shape", input_shape)
    x = torch.zeros(1, *input_shape, device=_device(model))
    check_input_fits(model, x)
    was_training = model.training
    model.eval()
    try:
        if not sparse:
            light = _light_macs(model, x)
            if light is not None:
                return light
            # no_grad, not inference_mode: inference tensors break FlopCounterMode's module hooks
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                model(x)
            return counter.get_total_flops() // 2
        total = 0

        def hook(module, inputs, output):
            nonlocal total
            with FlopCounterMode(display=False) as c:
                module.forward(*inputs)  # .forward: calling the module would re-enter this hook
            density = torch.count_nonzero(module.weight).item() / module.weight.numel()
            total += round(c.get_total_flops() // 2 * density)

        handles = [m.register_forward_hook(hook) for m in model.modules()
                   if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
        try:
            with torch.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return total
    finally:
        model.train(was_training)


@checked
def layer_table(model: nn.Module, input_shape: Sequence[int]):
    """One row per conv/linear layer: output shape, params, non-zeros, MACs (pandas).

    >>> from workbench import models
    >>> int(layer_table(models.build("lenet5"), (1, 28, 28)).loc["features.0", "macs"])
    117600
    """
    import pandas as pd

    input_shape = check_input_shape("input_shape", input_shape)
    check_input_fits(model, torch.zeros(1, *input_shape, device=_device(model)))
    rows = []

    def hook(module, inputs, output, name):
        with FlopCounterMode(display=False) as c:
            module.forward(*inputs)  # .forward: calling the module would re-enter this hook
        w = module.weight
        params = w.numel() + (module.bias.numel() if getattr(module, "bias", None) is not None else 0)
        rows.append(dict(layer=name, type=type(module).__name__, weight=tuple(w.shape),
                         output=tuple(output.shape[1:]), params=params,
                         nonzeros=int(torch.count_nonzero(w)) + (
                             int(torch.count_nonzero(module.bias)) if getattr(module, "bias", None) is not None else 0),
                         macs=c.get_total_flops() // 2))

    handles = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(m.register_forward_hook(lambda mod, i, o, n=name: hook(mod, i, o, n)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=_device(model)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return pd.DataFrame(rows).set_index("layer")


def _device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
