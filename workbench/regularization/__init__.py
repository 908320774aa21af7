"""Sparsity regularization: let training decide what to remove.

One module per concern:

- ``penalties``: pure penalties (L1, group lasso over filter / channel / shape / depth
  groups) and their proximal steps (soft-thresholding, group soft-thresholding);
- ``training``: training with a regularizer (``REGULARIZERS``), a warm-started λ path,
  Dynamic Network Surgery, DropConnect and sparse activations;
- ``surgery``: which channels a regularizer emptied, and their physical removal
  (notebook 01's ``remove_channels``);
- ``recipes``: the notebook's and the benchmark's recipes: λ chosen after removal and
  fine-tuning of every snapshot (``structured_sparsity``), one-shot magnitude pruning with
  the fine-tuning budget DNS gets;
- ``explorer``: ``make_explorer(...)`` over a λ path with a post-training threshold.

    >>> import workbench as wb
    >>> from workbench import regularization as rg
    >>> model = wb.build("lenet5")
    >>> sorted(rg.group_norms(model, "filter"))[:2]
    ['classifier.1', 'classifier.3']
"""

from . import penalties, plots, recipes, surgery, training
from .explorer import make_explorer
from .penalties import (GROUP_KINDS, exact_zeros, near_zeros, group_lasso, group_norms, group_sets, l1, prox_group, prox_group_,
                        prox_l1_, soft_threshold, zero_groups_)
from .recipes import Candidate, candidates_table, choose, one_shot_magnitude, structured_sparsity
from .surgery import conv_macs, path_table, remove_zero_channels, surviving, zero_channel_keep
from .training import (REGULARIZERS, activation_zeros, dense_sparse_dense, dynamic_surgery, regularization_path, train_dropconnect,
                       train_sparse)

__all__ = [
    "Candidate", "GROUP_KINDS", "REGULARIZERS", "candidates_table", "choose", "one_shot_magnitude", "recipes",
    "structured_sparsity", "activation_zeros", "conv_macs", "dense_sparse_dense", "path_table", "plots", "dynamic_surgery", "exact_zeros", "group_lasso", "group_norms",
    "group_sets", "l1", "make_explorer", "near_zeros", "penalties", "prox_group", "prox_group_", "prox_l1_", "regularization_path",
    "remove_zero_channels", "soft_threshold", "surgery", "surviving", "train_dropconnect", "train_sparse", "training",
    "zero_channel_keep", "zero_groups_",
]
