"""Efficient architectures (notebook 07): design a small network instead of shrinking a large one.

One module per concern:

- ``blocks``: the MAC formulas (standard k²MNHW, separable k²MHW + MNHW), the channel
  shuffle, and the blocks — standard, depthwise-separable (Howard et al. 2017),
  ShuffleNet's grouped unit (Zhang et al. 2018), SqueezeNet's fire module (Iandola et
  al. 2016) — in the registry ``BLOCKS``;
- ``nets``: ``TinyNet``, a small CNN over the width multiplier α and the resolution;
- ``costs``: where the MACs go, per layer kind, for our nets and torchvision's;
- ``timing``: a standard block against a separable one, timed;
- ``grid``: the stored α × resolution grid and the other designs, trained once by a script;
- ``experiments``: the grid as a table, the channel-shuffle comparison;
- ``matched``: the designed network against the full one pruned or distilled to its MACs;
- ``explorer``: ``make_explorer``; ``pictures``: the static figures.

    >>> from workbench import efficient as ef
    >>> ef.standard_macs(64, 64, 3, 7, 7) // ef.separable_macs(64, 64, 3, 7, 7)
    7
"""

from . import blocks, costs, experiments, explorer, grid, matched, nets, pictures, timing
from .blocks import (BLOCKS, FireBlock, SeparableBlock, ShuffleBlock, StandardBlock, channel_shuffle,
                     separable_macs, separable_ratio, standard_macs)
from .costs import block_costs, layer_kind, mac_shares, macs_by_kind, reference_shares
from .experiments import cheap_and_close, grid_table, shuffle_comparison, shuffle_table
from .explorer import make_explorer
from .grid import ALPHAS, DESIGNS, RECIPE, RESOLUTIONS, SHORT, load_designs, load_grid, train_net
from .matched import MATCHED, MatchRecipe, matched_budget, prune_to_macs
from .nets import MIN_RESOLUTION, TinyNet, build_net, scaled_widths
from .timing import time_blocks

__all__ = [
    "ALPHAS", "BLOCKS", "DESIGNS", "MATCHED", "MIN_RESOLUTION", "RECIPE", "RESOLUTIONS", "SHORT", "FireBlock",
    "MatchRecipe", "SeparableBlock", "ShuffleBlock", "StandardBlock", "TinyNet", "block_costs", "build_net",
    "channel_shuffle", "cheap_and_close", "grid_table", "layer_kind", "load_designs", "load_grid", "mac_shares",
    "macs_by_kind", "make_explorer", "matched_budget", "prune_to_macs", "reference_shares", "scaled_widths",
    "separable_macs", "separable_ratio", "shuffle_comparison", "shuffle_table", "standard_macs", "time_blocks",
    "train_net",
]
