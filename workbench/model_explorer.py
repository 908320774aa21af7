"""Notebook 00's explorer: pick a baseline and a batch size; compare it to a reference model.

    >>> from workbench import data
    >>> ex = model_explorer(data.load("digits"), ["lenet300", "lenet5"], budget_s=0.01)
    >>> ex.set(name="lenet300", batch_size=4).latency[4].batch_size
    4

No compression: the lesson is how latency grows with batch size, and that
accuracy, size, MACs and latency rank the models differently. The batch timings
are the explorer's quick ones (one thread, interleaved with the reference, the
lowest of three block medians); a batch that comes out faster than a smaller
batch of the same model is re-timed (see :class:`workbench.explorer.Explorer`),
so one burst of load cannot print "batch 1 slower than batch 32".
"""

from __future__ import annotations

from torch import nn

from ._checks import check_choice, checked
from .explorer import Explorer
from .widgets import Dropdown, Slider

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


@checked
def model_explorer(data, names: list[str] | None = None, *, reference: str = "lenet5",
                   budget_s: float = 0.1) -> Explorer:
    """An :class:`Explorer` over the baseline zoo: ``name`` and ``batch_size`` controls, ``reference`` as baseline.

    ``budget_s`` is the time budget of each quick timing (at least five interleaved rounds).
    """
    from .baselines import get_baseline
    from .models import MODELS

    check_choice("reference", reference, MODELS, what="model")
    names = list(names or MODELS)
    for n in names:
        check_choice("names", n, MODELS, what="model")
    zoo = {n: get_baseline(n, data.name) for n in names}

    def pick(model: nn.Module, name: str) -> nn.Module:
        return zoo[name]

    return Explorer(pick, {"batch_size": Slider(options=list(BATCH_SIZES), value=1),
                           "name": Dropdown(names, value=reference if reference in names else names[0])},
                    baseline=get_baseline(reference, data.name), data=data, title="model and batch size",
                    log_x=True, budget_s=budget_s)
