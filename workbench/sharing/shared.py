"""Shared weights on a model: a codebook per layer as a parametrization, and fine-tuning it.

``share_weights`` replaces every conv/linear weight by ``codebook[index]`` through
``torch.nn.utils.parametrize``: the index is a fixed buffer, the centroids are the
trainable parameter. Autograd through the gather gives each centroid the *sum* of
the gradients of the weights that share it — the update rule of Han et al.
(2016)::

    >>> import torch
    >>> centroid_gradient(torch.tensor([0.5, 1.0, -2.0]), torch.tensor([1, 1, 0]), k=2).tolist()
    [-2.0, 1.5]

A zero centroid (pruned weights) is frozen: pruned weights stay pruned.
``fine_tune_centroids`` trains the centroids (``rule="gradient"``) or, as many
teaching labs do, trains every weight and then resets each cluster to its mean
(``rule="mean"``); both keep at most ``2**bits`` distinct values per layer.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .._checks import check_choice, check_dataset, check_int, check_number, checked
from ..pruning.groups import weight_layers
from ..train import fine_tune
from ..weights import plain_copy
from .kmeans import INITS, share

RULES = ("gradient", "mean")


@checked
def centroid_gradient(grad: Tensor, index: Tensor, k: int) -> Tensor:
    """Each centroid's gradient: the sum of the gradients of the weights assigned to it (scatter-add)."""
    check_int("k", k, 1)
    return torch.zeros(k, dtype=grad.dtype).index_add_(0, index.reshape(-1).long(), grad.reshape(-1))


class SharedWeight(nn.Module):
    """A parametrization ``forward(w) = codebook[index]``; ``centroids`` train, the zero entry stays zero."""

    def __init__(self, codebook: np.ndarray, index: np.ndarray):
        super().__init__()
        book = torch.as_tensor(np.asarray(codebook), dtype=torch.float32)
        self.centroids = nn.Parameter(book.clone())
        self.register_buffer("live", (book != 0).float())
        self.register_buffer("index", torch.as_tensor(np.asarray(index), dtype=torch.long))

    def forward(self, w: Tensor) -> Tensor:
        return (self.centroids * self.live)[self.index]

    def extra_repr(self) -> str:
        return f"k={self.centroids.numel()}"


def layer_bits(model: nn.Module, conv_bits: int, fc_bits: int) -> dict[str, int]:
    """Codebook bits for every conv/linear layer of ``model`` (conv kernels get ``conv_bits``)."""
    check_int("conv_bits", conv_bits, 1, 16)
    check_int("fc_bits", fc_bits, 1, 16)
    return {name: conv_bits if isinstance(layer, nn.Conv2d) else fc_bits
            for name, layer in weight_layers(model).items()}


@checked
def share_weights(model: nn.Module, conv_bits: int = 8, fc_bits: int = 5, init: str = "linear", *,
                  seed: int = 0, cache: dict | None = None) -> nn.Module:
    """Cluster every conv/linear weight of ``model`` (in place) and register :class:`SharedWeight` on it.

    ``cache`` (a dict) keeps each layer's clustering, keyed by the layer's weights and the settings,
    so that asking again is instant. Returns ``model``.

    >>> from workbench import models
    >>> m = share_weights(models.build("lenet300"), fc_bits=3)
    >>> len(torch.unique(m.classifier[1].weight))
    8
    """
    check_choice("init", init, INITS, what="initialization")
    bits = layer_bits(model, conv_bits, fc_bits)
    for name, layer in weight_layers(model).items():
        w = layer.weight.detach().cpu().numpy()
        key = (name, bits[name], init, seed, w.shape, hash(w.tobytes()))
        if cache is None or key not in cache:
            result = share(w, bits[name], init, seed=seed)
            if cache is None:
                book, index = result
            else:
                cache[key] = result
        book, index = cache[key] if cache is not None else (book, index)
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        parametrize.register_parametrization(layer, "weight", SharedWeight(book, index), unsafe=True)
    return model


def shared_modules(model: nn.Module) -> dict[str, SharedWeight]:
    """The :class:`SharedWeight` of every shared layer, by layer name."""
    return {name: p for name, module in model.named_modules() if parametrize.is_parametrized(module, "weight")
            for p in module.parametrizations["weight"] if isinstance(p, SharedWeight)}


class _MeanWeight(nn.Module):
    """Forward the trainable weight itself (zeros masked); ``_mean_rule`` snaps it to cluster means."""

    def __init__(self, shared: SharedWeight):
        super().__init__()
        self.shared = shared
        self.register_buffer("mask", (shared.live[shared.index] != 0).float())

    def forward(self, w: Tensor) -> Tensor:
        return w * self.mask


@checked(skip=("data",))
def fine_tune_centroids(model: nn.Module, data, *, rule: str = "gradient", num_epochs: int = 2, lr: float = 1e-3,
                        **kwargs) -> nn.Module:
    """Fine-tune a shared model (from :func:`share_weights`) and return it as a plain model.

    ``rule="gradient"``: only the centroids (and biases) train, each with the summed
    gradient of its weights (Han et al. 2016). ``rule="mean"``: every weight trains,
    and after each step each cluster is reset to the mean of its weights. Either way
    each layer keeps its codebook's number of distinct values.
    """
    check_choice("rule", rule, RULES, what="update rule")
    check_int("num_epochs", num_epochs, 0)
    check_number("lr", lr, 0.0, 10.0, low_inclusive=False)
    shared = shared_modules(model)
    if not shared:
        raise ValueError("model has no shared weights: call share_weights(model, ...) first")
    check_dataset("data", data)
    kwargs.setdefault("progress", False)
    if rule == "gradient":
        fine_tune(model, data, num_epochs=num_epochs, lr=lr, **kwargs)
        return plain_copy(model)
    for name, p in shared.items():                          # weights train, masked; clusters snap to means
        layer = model.get_submodule(name)
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        parametrize.register_parametrization(layer, "weight", _MeanWeight(p))
    layers = [(model.get_submodule(n), p) for n, p in shared.items()]

    def on_step(_model, _step):
        with torch.no_grad():
            for module, p in layers:
                w = module.parametrizations["weight"].original
                k, flat = p.centroids.numel(), p.index.reshape(-1)
                counts = torch.bincount(flat, minlength=k).clamp_min(1).float()
                p.centroids.copy_(torch.zeros(k).index_add_(0, flat, w.reshape(-1)) / counts)
                w.copy_(p(w))

    on_step(model, 0)
    fine_tune(model, data, num_epochs=num_epochs, lr=lr, on_step=on_step, **kwargs)
    return plain_copy(model)
