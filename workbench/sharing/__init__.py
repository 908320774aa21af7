"""Weight sharing and Deep Compression: prune, share weights by k-means, Huffman-code.

One module per concern: ``kmeans`` (centroid initializations, 1-D k-means),
``storage`` (relative indices with fillers, Huffman streams, the codecs),
``shared`` (codebooks as parametrizations, fine-tuning the centroids),
``pipeline`` (prune -> share -> Huffman with every stage measured, the paper's
table), ``analysis`` (initializations, the rate formula, fillers, HashedNets),
``explorer`` and ``plots``.

Importing this package registers the codecs ``relative``, ``relative_shared`` and
``relative_huffman`` and the encodings ``pruned``, ``pruned_shared`` and
``deep_compression`` with :mod:`workbench.encodings`.
"""

from . import kmeans, storage

storage.register()          # before the modules below use the encodings

from . import analysis, explorer, pipeline, plots, shared  # noqa: E402
from .analysis import (compare_hashing, compare_inits, compare_rules, compression_rate,  # noqa: E402
                       filler_table, hash_share, rate_check)
from .explorer import make_explorer  # noqa: E402
from .kmeans import INITS, init_centroids, kmeans_1d, share  # noqa: E402
from .pipeline import PAPER, RECIPES, STAGES, Recipe, Run, deep_compress, layer_table, side_by_side  # noqa: E402
from .shared import RULES, centroid_gradient, fine_tune_centroids, share_weights  # noqa: E402
from .storage import breakdown, decode_tensor, encode_tensor, positions, relative_indices  # noqa: E402

__all__ = ["INITS", "PAPER", "RECIPES", "RULES", "STAGES", "Recipe", "Run", "analysis", "breakdown",
           "centroid_gradient", "compare_hashing", "compare_inits", "compare_rules", "compression_rate",
           "decode_tensor", "deep_compress", "encode_tensor", "explorer", "filler_table", "fine_tune_centroids",
           "hash_share", "init_centroids", "kmeans", "kmeans_1d", "layer_table", "make_explorer", "pipeline",
           "plots", "positions", "rate_check", "relative_indices", "share", "share_weights", "shared",
           "side_by_side", "storage"]
