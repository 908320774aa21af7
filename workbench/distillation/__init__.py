"""Knowledge distillation (notebook 06): what a teacher's soft targets carry.

One module per concern:

- ``losses``: pure functions — ``soften`` (softmax at a temperature), ``kd_loss``
  (Hinton et al. 2015), ``attention_loss`` (Zagoruyko & Komodakis 2017),
  ``hint_loss`` with a ``Regressor`` (FitNets, Romero et al. 2015);
- ``teachers``: single baselines or an ensemble, and ``CachedTeacher`` so that a
  distillation epoch costs only the student;
- ``features``: forward hooks that tap intermediate feature maps;
- ``experiments``: students, transfer sets, ``distill``, the seeded comparisons;
- ``omitted``: the omitted-class experiment; ``feature_transfer``: attention maps and hints;

- ``explorer``: ``make_explorer`` and the live soft-target view;
- ``pictures``: the notebook's static figures.

    >>> import torch
    >>> from workbench import distillation as kd
    >>> z = torch.tensor([[3.0, 1.0, 0.0]])
    >>> kd.soften(z, temperature=4.0).argmax().item()
    0
"""

from . import experiments, explorer, features, losses, pictures, teachers
from .experiments import (FEATURE_METHODS, FULL, SHORT, STUDENTS, Comparison, OmittedClass, Recipe, build_student,
                          compare, distill, feature_transfer, gap_closed, omit_class, omitted_class, transfer_subset)
from .explorer import make_explorer
from .losses import attention_loss, attention_map, hint_loss, kd_loss, soft_target_loss, soften
from .teachers import TEACHERS, CachedTeacher, Ensemble, cached_teachers, ensemble_logits, load_teacher

__all__ = [
    "FEATURE_METHODS", "FULL", "SHORT", "STUDENTS", "TEACHERS", "CachedTeacher", "Comparison", "Ensemble",
    "OmittedClass", "Recipe", "attention_loss", "attention_map", "build_student", "cached_teachers", "compare",
    "distill", "ensemble_logits", "feature_transfer", "gap_closed", "hint_loss", "kd_loss", "load_teacher",
    "make_explorer", "omit_class", "omitted_class", "soft_target_loss", "soften", "transfer_subset",
]
