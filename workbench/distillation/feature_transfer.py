"""Feature-level transfer: attention maps (Zagoruyko & Komodakis 2017) and hints (FitNets,
Romero et al. 2015) added to the soft targets.

    >>> stage_pairs(build("lenet5"), build("vgg"))[0]
    ('features.2', 'features.3')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_number, checked
from ..models import build
from ..train import History, evaluate, predict, train
from .experiments import FULL, Recipe, build_student, distill, threads
from .teachers import CachedTeacher
from .features import FeatureTap, Guided, TeacherFeatures, feature_layers
from .losses import Regressor, attention_loss, hint_loss, kd_loss


# ---------------------------------------------------------------- feature-level transfer

FEATURE_METHODS: dict[str, str] = {
    "labels": "from labels alone (cross-entropy)",
    "kd": "logits only: Hinton et al.'s soft targets",
    "kd + attention": "soft targets + attention transfer at every stage (Zagoruyko & Komodakis 2017)",
    "kd + hint": "FitNets (Romero et al. 2015): first regress the teacher's first-stage map, then soft targets",
}


def stage_pairs(student: nn.Module, teacher: nn.Module) -> list[tuple[str, str]]:
    """(student layer, teacher layer) for each stage both have, early to late.

    >>> stage_pairs(build("lenet5"), build("vgg"))
    [('features.2', 'features.3'), ('features.5', 'features.7')]
    """
    s, t = feature_layers(student), feature_layers(teacher)
    return list(zip(s, t))


def feature_distill(student: nn.Module, data, teacher: nn.Module, logits: CachedTeacher, *, method: str = "kd + attention",
                    temperature: float = 8.0, alpha: float = 0.9, beta: float = 1000.0, recipe: Recipe = FULL,
                    seed: int = 0, features: CachedTeacher | None = None) -> History:
    """Distil with a feature-level term added (``method`` from :data:`FEATURE_METHODS`); trains in place.

    ``beta`` weighs the attention term as in the paper (``beta / 2`` times the summed
    per-stage losses, 1000 there). For ``"kd + hint"`` the first quarter of the epochs
    trains the student's first stage and a 1x1 regressor to predict the teacher's
    first-stage map (FitNets' stage 1); the rest is plain KD, so the step budget is
    the same. ``features`` may pass a cache of ``TeacherFeatures`` (built if omitted).
    """
    check_choice("method", method, FEATURE_METHODS, what="method")
    check_number("beta", beta, 0.0)
    if method == "labels":
        return distill(student, data, None, alpha=0.0, recipe=recipe, seed=seed)
    if method == "kd":
        return distill(student, data, logits, temperature=temperature, alpha=alpha, recipe=recipe, seed=seed)
    pairs = stage_pairs(student, teacher)
    if method == "kd + hint":
        pairs = pairs[:1]
    s_layers, t_layers = [p[0] for p in pairs], [p[1] for p in pairs]
    t_features = TeacherFeatures(teacher, t_layers)
    if features is None:
        features = CachedTeacher(t_features, data.X_train)
    else:
        t_features = features.teacher
        if t_features.layers != tuple(t_layers):
            raise ValueError(f"features must cache the teacher layers {t_layers}, got {list(t_features.layers)}")
    tap = FeatureTap(student, s_layers)
    try:
        if method == "kd + attention":
            def loss_fn(z: Tensor, y: Tensor, X: Tensor) -> Tensor:
                at = sum(attention_loss(s, t) for s, t in zip(tap.outputs, t_features.unflatten(features(X))))
                return kd_loss(z, logits(X), y, temperature, alpha) + beta / 2 * at
            with threads(recipe.threads):
                return train(student, data, num_epochs=recipe.num_epochs, lr=recipe.lr,
                             batch_size=recipe.batch_size, schedule=recipe.schedule, loss_fn=loss_fn, seed=seed,
                             progress=False, desc=method)
        hint_epochs = max(1, recipe.num_epochs // 4)
        with torch.no_grad():
            s_shape = tap_shapes(student, s_layers, data.input_shape)[0]
        regressor = Regressor(s_shape[0], t_features.shapes[0][0])
        guided = Guided(student, [regressor])
        with threads(recipe.threads):
            train(guided, data, num_epochs=hint_epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                  schedule=recipe.schedule, seed=seed, progress=False, desc="FitNets stage 1: hint",
                  loss_fn=lambda z, y, X: hint_loss(tap.outputs[0], t_features.unflatten(features(X))[0], regressor))
    finally:
        tap.close()
    rest = replace(recipe, num_epochs=recipe.num_epochs - hint_epochs)
    return distill(student, data, logits, temperature=temperature, alpha=alpha, recipe=rest, seed=seed)


def tap_shapes(model: nn.Module, layers: Sequence[str], input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """The ``(C, H, W)`` of each layer's output for one input of ``input_shape``."""
    with FeatureTap(model, layers) as tap, torch.no_grad():
        predict(model, torch.zeros(1, *input_shape))
        return [tuple(o.shape[1:]) for o in tap.outputs]


@checked
def feature_transfer(data, teacher: nn.Module, logits: CachedTeacher, *, student: str = "lenet5-0.5",
                     methods: Sequence[str] = tuple(FEATURE_METHODS), seeds: Sequence[int] = (0,),
                     recipe: Recipe = FULL, split: str = "test", **kwargs) -> dict[str, dict[int, float]]:
    """Test accuracy of the same student trained by each method, per seed: ``{method: {seed: acc}}``."""
    for m in methods:
        check_choice("methods", m, FEATURE_METHODS, what="method")
    X, y = data.split(split)
    caches: dict[tuple[str, ...], CachedTeacher] = {}
    out: dict[str, dict[int, float]] = {m: {} for m in methods}
    for seed in seeds:
        for method in methods:
            model = build_student(student, seed)
            features = None
            if method in ("kd + attention", "kd + hint"):
                pairs = stage_pairs(model, teacher)[: 1 if method == "kd + hint" else None]
                key = tuple(p[1] for p in pairs)
                if key not in caches:
                    caches[key] = CachedTeacher(TeacherFeatures(teacher, key), data.X_train)
                features = caches[key]
            feature_distill(model, data, teacher, logits, method=method, recipe=recipe, seed=seed,
                            features=features, **kwargs)
            out[method][seed] = evaluate(model, X, y)
    return out
