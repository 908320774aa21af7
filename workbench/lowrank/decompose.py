"""A whole model factored layer by layer, every decomposition computed once and cached.

    >>> import workbench as wb
    >>> base = wb.get_baseline("lenet300", progress=False)
    >>> dec = Decomposer(base)
    >>> dec.ranks("svd", energy=0.5)                     # each layer's rank keeping half its energy
    {'classifier.1': 25, 'classifier.3': 13, 'classifier.5': 4}
    >>> small = dec.decompose("svd", ranks={"classifier.1": 40})
    >>> small.classifier[1]
    LowRank(method=svd, rank=40, 2 layers)

Ranks come either per layer (``ranks={name: rank}``) or from one ``energy``
fraction: each layer gets the smallest rank keeping that fraction of its squared
singular values. SVD and spatial factors come from one SVD per layer (every rank is
a slice of it); Tucker-2 and CP are fitted per rank by TensorLy and cached, CP
being the slow one. A factorization holding at least as many weights as the dense
layer is skipped (``only_if_smaller``): above the break-even rank it costs more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from .._checks import check_choice, check_number, checked
from ..weights import deep_copy
from . import decompositions as dec
from .layers import METHOD_LAYERS, check_layer, cp_conv, spatial_conv, svd_linear, tucker_conv, weight_count
from .spectra import rank_for_energy, unfold

METHODS = {
    "svd": "truncated SVD of fully connected layers (Xue et al. 2013, Denton et al. 2014)",
    "spatial": "k×1 then 1×k filters (Jaderberg et al. 2014)",
    "cp": "CP: 1×1, depthwise k×1, depthwise 1×k, 1×1 (Lebedev et al. 2015)",
    "tucker": "Tucker-2: 1×1, k×k core, 1×1 (Kim et al. 2016)",
}


@checked
def factorable_layers(model: nn.Module, method: str) -> list[str]:
    """Names of the layers of ``model`` that ``method`` can factor, in order.

    >>> import workbench as wb
    >>> factorable_layers(wb.build("lenet5"), "tucker")
    ['features.0', 'features.3']
    """
    check_choice("method", method, METHODS)
    out = []
    for name, m in model.named_modules():
        if isinstance(m, METHOD_LAYERS[method]):
            try:
                check_layer(m, method)
            except ValueError:
                continue
            out.append(name)
    return out


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule called ``name`` (dotted path) by ``module``."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


@checked
class Decomposer:
    """Factor the layers of ``model`` (left unchanged) at any rank; decompositions are cached."""

    def __init__(self, model: nn.Module, *, cp_iterations: int = 100):
        self.model = model
        self.cp_iterations = cp_iterations
        self._layers = dict(model.named_modules())
        self._svds: dict[tuple[str, str], tuple[Tensor, Tensor, Tensor]] = {}
        self._tucker: dict[tuple[str, tuple[int, int]], tuple] = {}
        self._cp: dict[tuple[str, int], tuple] = {}

    def layer(self, name: str, method: str) -> nn.Module:
        """The baseline layer ``name``, checked to be one ``method`` can factor."""
        check_choice("method", method, METHODS)
        check_choice("layer", name, self._factorable(method), what=f"layer for {method}")
        return self._layers[name]

    def _factorable(self, method: str) -> list[str]:
        names = factorable_layers(self.model, method)
        if not names:
            kind = "nn.Linear" if METHOD_LAYERS[method] is nn.Linear else "Conv2d with a kernel larger than 1x1"
            raise ValueError(f"method {method!r} finds no layer to factor in this model (it factors {kind} "
                             f"layers); method must be one of: {', '.join(METHODS)}")
        return names

    def _svd(self, name: str, view: str | int) -> tuple[Tensor, Tensor, Tensor]:
        key = (name, str(view))
        if key not in self._svds:
            W = self._layers[name].weight.detach()
            self._svds[key] = dec.svd(W if view == "matrix" else unfold(W, view))
        return self._svds[key]

    def spectra(self, name: str, method: str) -> dict[str, Tensor]:
        """The singular values that choose ``method``'s rank(s) for layer ``name``, by label."""
        self.layer(name, method)
        if method == "svd":
            return {"weight": self._svd(name, "matrix")[1]}
        if method == "spatial":
            return {"(C_in·kh) × (C_out·kw)": self._svd(name, "spatial")[1]}
        if method == "tucker":
            return {"output channels": self._svd(name, 0)[1], "input channels": self._svd(name, 1)[1]}
        return {"filters (guides the CP rank)": self._svd(name, 0)[1]}

    def rank_for(self, name: str, method: str, energy: float):
        """The rank (Tucker: ``(r_out, r_in)``) keeping ``energy`` of layer ``name``'s spectra."""
        ranks = tuple(rank_for_energy(s, energy) for s in self.spectra(name, method).values())
        return ranks if method == "tucker" else ranks[0]

    def ranks(self, method: str, energy: float, layers: Sequence[str] | None = None) -> dict:
        """Every chosen layer's rank at ``energy`` (all the layers ``method`` can factor by default)."""
        check_number("energy", energy, 0.0, 1.0, low_inclusive=False)
        names = list(layers) if layers is not None else self._factorable(method)
        return {n: self.rank_for(n, method, energy) for n in names}

    def factorize(self, name: str, method: str, rank, layer: nn.Module | None = None) -> nn.Module:
        """Layer ``name`` (or ``layer``, a copy with the same weights) factored at ``rank``."""
        base = self.layer(name, method)
        layer = base if layer is None else layer
        if method == "svd":
            return svd_linear(layer, rank, self._svd(name, "matrix"))
        if method == "spatial":
            return spatial_conv(layer, rank, self._svd(name, "spatial"))
        if method == "tucker":
            key = (name, tuple(int(r) for r in rank))
            weight_count(base, "tucker", key[1])                     # checks the ranks
            if key not in self._tucker:
                self._tucker[key] = dec.tucker2(base.weight, key[1])
            return tucker_conv(layer, key[1], self._tucker[key])
        weight_count(base, "cp", rank)                               # checks the rank
        if (name, rank) not in self._cp:
            self._cp[(name, rank)] = dec.cp(base.weight, rank, n_iter_max=self.cp_iterations)
        return cp_conv(layer, rank, self._cp[(name, rank)])

    def decompose(self, method: str, *, energy: float | None = None, ranks: Mapping[str, object] | None = None,
                  layers: Sequence[str] | None = None, model: nn.Module | None = None,
                  only_if_smaller: bool = True) -> nn.Module:
        """A copy of the model (or ``model``, changed in place) with the chosen layers factored.

        Give ``ranks`` (layer name -> rank) or ``energy`` (with optional ``layers``).
        """
        check_choice("method", method, METHODS)
        if (energy is None) == (ranks is None):
            raise ValueError("give exactly one of energy (a fraction in (0, 1]) or ranks ({layer: rank})")
        chosen = dict(ranks) if ranks is not None else self.ranks(method, energy, layers)
        model = deep_copy(self.model) if model is None else model
        for name, rank in chosen.items():
            base = self.layer(name, method)
            if only_if_smaller and weight_count(base, method, rank) >= base.weight.numel():
                continue
            set_module(model, name, self.factorize(name, method, rank, model.get_submodule(name)))
        return model


@checked(energy=(0, 1, "(]"))
def decompose(model: nn.Module, method: str, *, energy: float | None = None, ranks: Mapping | None = None,
              layers: Sequence[str] | None = None, only_if_smaller: bool = True) -> nn.Module:
    """A copy of ``model`` with its layers factored by ``method`` (see :class:`Decomposer`).

    >>> import workbench as wb
    >>> small = decompose(wb.get_baseline("lenet300", progress=False), "svd", energy=0.5)
    >>> wb.count_params(small) < 266610 / 5
    True
    """
    return Decomposer(model).decompose(method, energy=energy, ranks=ranks, layers=layers,
                                       only_if_smaller=only_if_smaller)
