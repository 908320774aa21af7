"""Dynamic computation: spend less on easy inputs (notebook 09).

- ``exits``: exit rules on precomputed logits (entropy, confidence), fractions, average MACs;
- ``network``: an early-exit CNN whose width can be switched, with real exits;
- ``training``: joint training of every exit at every width;
- ``timing``: batch-1 latency per example on real digits, with real exits;
- ``cascade``: a small model that hands the unsure examples to a big one;
- ``pictures`` and ``explorer``: the gallery, the curves and the live panel.
"""

from .exits import (RULES, average_macs, choose_exit, doubt, entropy, exit_fractions, exit_from_scores, exit_predictions, outcome,
                    pick_threshold, sweep, uncertainty)
from .cascade import Cascade, cascade_outcome, cascade_table
from .explorer import DynamicExplorer, make_explorer
from .network import WIDTHS, EarlyExitModel, EarlyExitNet, ExitPath, count_block_calls, exit_macs, scaled
from .pictures import exit_examples, show_exit_gallery, show_tradeoff
from .timing import per_example_latency, summary_rows
from .training import NOTEBOOK_RECIPE, exit_accuracies, exit_logits, joint_loss, notebook_network, train_early_exit

__all__ = ["RULES", "WIDTHS", "Cascade", "DynamicExplorer", "EarlyExitModel", "EarlyExitNet", "ExitPath",
           "average_macs", "cascade_outcome", "cascade_table", "choose_exit", "count_block_calls", "doubt", "entropy",
           "exit_accuracies", "exit_examples", "exit_fractions", "exit_from_scores", "exit_logits", "exit_macs",
           "exit_predictions", "joint_loss", "make_explorer", "NOTEBOOK_RECIPE", "notebook_network", "outcome", "per_example_latency", "pick_threshold",
           "scaled", "show_exit_gallery", "show_tradeoff", "summary_rows", "sweep", "train_early_exit",
           "uncertainty"]
