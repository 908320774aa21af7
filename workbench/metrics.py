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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from .weights import effective_state_dict, weight_tensors


def count_params(model: nn.Module) -> int:
    """Number of parameters of the deployed model (masks and duplicates not counted)."""
    return sum(t.numel() for t in weight_tensors(model).values())


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameters (after masks)."""
    return sum(int(torch.count_nonzero(t)) for t in weight_tensors(model).values())


def sparsity(model: nn.Module) -> float:
    """Fraction of parameters that are zero, in [0, 1]."""
    total = count_params(model)
    return 1.0 - count_nonzero(model) / total if total else 0.0


def count_macs(model: nn.Module, input_shape: Sequence[int], *, sparse: bool = False) -> int:
    """Multiply-accumulates of one forward pass on one example of ``input_shape`` (C, H, W).

    ``sparse=True`` scales each conv/linear layer's MACs by its weight density: the
    count a sparse kernel could reach. Dense kernels still do the full count.
    """
    x = torch.zeros(1, *input_shape, device=_device(model))
    was_training = model.training
    model.eval()
    try:
        if not sparse:
            # no_grad, not inference_mode: FlopCounterMode's module tracker fails on parametrized weights there
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
            with torch.inference_mode():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return total
    finally:
        model.train(was_training)


def layer_table(model: nn.Module, input_shape: Sequence[int]):
    """One row per conv/linear layer: output shape, params, non-zeros, MACs (pandas)."""
    import pandas as pd

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
        with torch.inference_mode():
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
