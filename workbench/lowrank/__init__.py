"""Low-rank decomposition: one wide layer becomes two to four thin ones.

One module per concern:

- ``spectra``: pure functions on singular values (energy, the rank that keeps it,
  the break-even rank, the Eckart–Young error);
- ``decompositions``: SVD (PyTorch), Tucker-2 and CP (TensorLy) of weights and kernels;
- ``layers``: surgery on one layer (``svd_linear``, ``spatial_conv``, ``tucker_conv``, ``cp_conv``);
- ``decompose``: a whole model factored, every decomposition cached (``Decomposer``);
- ``experiments``: the notebook's rank sweeps and method comparisons;
- ``timing``: measured speed of factored layers against dense ones, and the crossover;
- ``explorer``: ``make_explorer(...)`` for the notebook; ``plots``: its pictures.

    >>> import workbench as wb
    >>> from workbench import lowrank as lr
    >>> small = lr.decompose(wb.get_baseline("lenet300", progress=False), "svd", ranks={"classifier.1": 40})
    >>> wb.count_params(small)
    74770
"""

from . import decompositions, experiments, layers, plots, spectra, timing
from .decompose import METHODS, Decomposer, decompose, factorable_layers
from .explorer import make_explorer
from .layers import LowRank, cp_conv, spatial_conv, svd_linear, tucker_conv, weight_count
from .spectra import break_even_rank, energy, rank_for_energy, truncated, truncation_error

__all__ = [
    "METHODS", "Decomposer", "LowRank", "break_even_rank", "cp_conv", "decompose", "decompositions", "energy",
    "experiments", "make_explorer", "plots", "timing",
    "factorable_layers", "layers", "rank_for_energy", "spatial_conv", "spectra", "svd_linear", "truncated",
    "truncation_error", "tucker_conv", "weight_count",
]
