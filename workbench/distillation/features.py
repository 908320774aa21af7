"""Intermediate feature maps for feature-level transfer: taps, teacher features, guided students.

A :class:`FeatureTap` records what named layers output during a forward pass
(forward hooks, removed on ``close``)::

    >>> import torch
    >>> from workbench import models
    >>> net = models.build("lenet5", width=0.25)
    >>> with FeatureTap(net, FEATURE_LAYERS["lenet5"]) as tap:
    ...     _ = net(torch.zeros(2, 1, 28, 28))
    >>> [tuple(f.shape) for f in tap.outputs]
    [(2, 2, 14, 14), (2, 4, 5, 5)]

Which layers: the output of each pooling stage (``FEATURE_LAYERS``), where the
spatial maps of student and teacher line up (14x14 for the first stage of every
CNN here). An MLP has no spatial map: feature transfer is for CNN students.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import check_choice
from ..train import predict

# model name -> the modules whose outputs are the stage features, early to late
FEATURE_LAYERS: dict[str, tuple[str, ...]] = {
    "lenet5": ("features.2", "features.5"),                    # (6, 14, 14), (16, 5, 5)
    "vgg": ("features.3", "features.7", "features.11"),        # (32, 14, 14), (64, 7, 7), (128, 3, 3)
    "resnet": ("layers.0", "layers.1", "layers.2"),            # (16, 14, 14), (32, 7, 7), (64, 4, 4)
    "mobilenet": ("features.5", "features.11", "features.23"),
}


def feature_layers(model: nn.Module) -> tuple[str, ...]:
    """The stage outputs of ``model`` (by its ``config["name"]``); an MLP has none."""
    name = getattr(model, "config", {}).get("name")
    check_choice("model", name, FEATURE_LAYERS, what="model with spatial features")
    return FEATURE_LAYERS[name]


class FeatureTap:
    """Records the outputs of ``layers`` (module names) at every forward pass, in that order."""

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        modules = dict(model.named_modules())
        for name in layers:
            check_choice("layers", name, modules, what="layer")
        self.layers = tuple(layers)
        self._store: dict[str, Tensor] = {}
        self._handles = [modules[name].register_forward_hook(self._hook(name)) for name in self.layers]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self._store[name] = output
        return hook

    @property
    def outputs(self) -> list[Tensor]:
        """The latest outputs, one per layer (``(B, C, H, W)`` each)."""
        missing = [n for n in self.layers if n not in self._store]
        if missing:
            raise RuntimeError(f"no forward pass has reached {missing} yet")
        return [self._store[n] for n in self.layers]

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> "FeatureTap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TeacherFeatures:
    """``teacher``'s feature maps at ``layers`` as one flat ``(N, D)`` tensor, so they can be cached.

    ``unflatten`` gives the maps back as ``[(B, C, H, W), ...]``.

    >>> from workbench import models
    >>> tf = TeacherFeatures(models.build("vgg"), ["features.3"])
    >>> [tuple(f.shape) for f in tf.unflatten(tf(torch.zeros(2, 1, 28, 28)))]
    [(2, 32, 14, 14)]
    """

    def __init__(self, teacher: nn.Module, layers: Sequence[str]):
        self.teacher = teacher.eval()
        self.layers = tuple(layers)
        self.shapes: list[tuple[int, ...]] | None = None

    @torch.inference_mode()
    def __call__(self, X: Tensor) -> Tensor:
        with FeatureTap(self.teacher, self.layers) as tap:
            predict(self.teacher, X, batch_size=len(X))
            outs = tap.outputs
        self.shapes = [tuple(o.shape[1:]) for o in outs]
        return torch.cat([o.flatten(1) for o in outs], dim=1)

    def unflatten(self, flat: Tensor) -> list[Tensor]:
        if self.shapes is None:
            raise RuntimeError("call the teacher features once first (their shapes are not known yet)")
        sizes = [int(torch.tensor(s).prod()) for s in self.shapes]
        return [part.reshape(len(flat), *s) for part, s in zip(flat.split(sizes, dim=1), self.shapes)]


class Guided(nn.Module):
    """A student plus the FitNets regressors that only training needs.

    ``parameters()`` covers both, so ``train(guided, ...)`` fits the regressors too;
    ``guided.student`` is what is deployed and measured.
    """

    def __init__(self, student: nn.Module, regressors: Sequence[nn.Module] = ()):
        super().__init__()
        self.student = student
        self.regressors = nn.ModuleList(regressors)

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x)
