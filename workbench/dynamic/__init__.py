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
from .network import WIDTHS, EarlyExitModel, EarlyExitNet, ExitPath, exit_macs, scaled

__all__ = ["RULES", "WIDTHS", "EarlyExitModel", "EarlyExitNet", "ExitPath", "average_macs", "choose_exit", "doubt",
           "entropy", "exit_fractions", "exit_from_scores", "exit_macs", "exit_predictions", "outcome", "pick_threshold", "scaled",
           "sweep", "uncertainty"]
