"""Pruning: which weights and filters to remove, and what removing them really buys.

One module per concern, each usable on its own:

- ``criteria``: pure scoring functions and the registry ``CRITERIA`` (L1, APoZ,
  entropy, Taylor, random) the explorer's dropdown reads;
- ``groups``: which layers can be pruned and which channels are coupled;
- ``scores``: a criterion run over a whole model (activations on the val split);
- ``masks``: scores -> keep-masks (per layer or global) -> parametrized masks;
- ``structured``: physical removal of filters (hand surgery for plain chains,
  Torch-Pruning's dependency graph for residual and depthwise models);
- ``schedules``: iterative prune/fine-tune and Zhu & Gupta's gradual schedule;
- ``sensitivity``: per-layer accuracy-vs-amount curves and per-layer amounts;
- ``oracle``: loss change per removed channel and rank correlation with it;
- ``sparse``: CSR against dense kernels, and what masks cost;
- ``explorer``: ``make_explorer(...)`` for the notebook; ``plots``: its pictures.

    >>> import workbench as wb
    >>> from workbench import pruning
    >>> model = wb.get_baseline("vgg")
    >>> scores = pruning.channel_scores(model, "l1")
    >>> small = pruning.prune_channels(model, scores, amount=0.5)
    >>> small.config["channels"]
    (16, 32, 64)
"""

from . import criteria, groups, masks, oracle, plots, schedules, scores, sensitivity, sparse, structured
from .criteria import CRITERIA, STRUCTURES
from .explorer import make_explorer
from .groups import channel_groups, weight_layers
from .masks import SCOPES, apply_masks, keep_masks, mask_weights, masks_from_zeros, zero_weights
from .scores import channel_scores, weight_scores
from .structured import mask_channels, prune_channels, remove_channels

__all__ = [
    "CRITERIA", "SCOPES", "STRUCTURES", "apply_masks", "channel_groups", "channel_scores", "criteria", "groups",
    "keep_masks", "make_explorer", "mask_channels", "mask_weights", "masks", "masks_from_zeros", "oracle", "plots",
    "prune_channels", "remove_channels", "schedules", "scores", "sensitivity", "sparse", "structured",
    "weight_layers", "weight_scores", "zero_weights",
]
