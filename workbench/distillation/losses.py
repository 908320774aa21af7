"""Distillation losses: pure functions of logits and feature maps.

Soft targets (Hinton, Vinyals & Dean 2015, *Distilling the Knowledge in a Neural
Network*): the teacher's logits ``v`` softened at temperature ``T``,
``p = softmax(v / T)``, are the targets of the student's softened output
``q = softmax(z / T)``::

    >>> import torch
    >>> soften(torch.tensor([[2.0, 1.0, 0.0]]), temperature=1e9).round(decimals=3)
    tensor([[0.3330, 0.3330, 0.3330]])

The KD loss is ``alpha * T**2 * KL(p || q) + (1 - alpha) * CE(z, y)``.

*Which KL.* ``KL(p || q) = sum_i p_i (log p_i - log q_i)`` with the teacher's
distribution ``p`` first: the teacher is the "data", the student the model being
fitted, as in Hinton et al. (their cross-entropy ``H(p, q)`` differs from it by the
teacher's entropy, a constant). PyTorch writes it with the arguments the other
way round, ``F.kl_div(log_q_student, p_teacher)`` (input = student log-probabilities,
target = teacher probabilities); papers that write ``KL(student_T || teacher_T)``
follow that argument order, not the mathematical one. Its gradient with respect to
the student's logits is ``(q - p) / T``, which is why the soft term is multiplied
by ``T**2``: for large ``T`` the gradient shrinks like ``1 / T**2``, and ``T**2``
restores the scale, so changing ``T`` does not silently change the balance with
the hard-label term (Hinton et al., section 2).

Feature-level transfer: attention transfer (Zagoruyko & Komodakis 2017, *Paying
More Attention to Attention*) matches normalised spatial attention maps;
FitNets hints (Romero et al. 2015) regress the teacher's feature map from the
student's through a small learned regressor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_fraction, check_labels, check_number, checked


def _check_temperature(temperature: float) -> float:
    return check_number("temperature", temperature, 0.0, 1e9, low_inclusive=False)


def _check_logits(name: str, logits: Tensor) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"{name} must be a 2-D tensor (batch, classes), got {shape}")


def _check_pair(student_logits: Tensor, teacher_logits: Tensor) -> None:
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError("student_logits and teacher_logits must have the same shape (batch, classes), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")


@checked(skip=("temperature",))
def soften(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``softmax(logits / temperature)`` over the last dimension: a softer distribution for ``T > 1``.

    >>> soften(torch.tensor([0.0, 2.0]), temperature=2.0)
    tensor([0.2689, 0.7311])
    """
    temperature = _check_temperature(temperature)
    return F.softmax(logits / temperature, dim=-1)


def entropy(probs: Tensor) -> Tensor:
    """Entropy in bits of each distribution along the last dimension (``0 log 0 = 0``).

    >>> entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
    tensor([1., 0.])
    """
    return -(probs * probs.clamp_min(1e-30).log2()).sum(-1) + 0.0   # + 0.0: no "-0." for certain outcomes


@checked(skip=("temperature", "alpha"))
def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0, *,
                     scale: bool = True) -> Tensor:
    """``KL(p_teacher || q_student)`` at ``temperature``, averaged over the batch, times ``T**2`` if ``scale``.

    Equal to ``F.kl_div(log_softmax(z / T), softmax(v / T), reduction="batchmean")``
    (times ``T**2``); zero when the student's logits equal the teacher's.

    >>> z = torch.tensor([[1.0, 0.0]])
    >>> float(soft_target_loss(z, z))
    0.0
    """
    temperature = _check_temperature(temperature)
    _check_pair(student_logits, teacher_logits)
    log_q = F.log_softmax(student_logits / temperature, dim=1)      # (B, C) student, softened
    log_p = F.log_softmax(teacher_logits.detach() / temperature, dim=1)  # (B, C) teacher, softened
    kl = (log_p.exp() * (log_p - log_q)).sum(1).mean()              # KL(p || q), batch mean
    return kl * temperature**2 if scale else kl


@checked(skip=("temperature", "alpha"))
def kd_loss(student_logits: Tensor, teacher_logits: Tensor, y: Tensor, temperature: float = 4.0,
            alpha: float = 0.9, *, scale: bool = True) -> Tensor:
    """Hinton et al.'s loss: ``alpha * T**2 * KL(p_T || q_T) + (1 - alpha) * CE(z, y)``.

    ``alpha`` weighs the soft targets (1: teacher only, 0: labels only);
    ``scale=False`` drops the ``T**2`` factor (to see what goes wrong without it).

    >>> z, v, y = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([0])
    >>> torch.allclose(kd_loss(z, v, y, temperature=1.0, alpha=0.0), F.cross_entropy(z, y))
    True
    """
    temperature = _check_temperature(temperature)
    alpha = check_fraction("alpha", alpha)
    _check_pair(student_logits, teacher_logits)
    y = check_labels("y", y, n=len(student_logits), num_classes=student_logits.shape[-1])
    hard = F.cross_entropy(student_logits, y)
    if alpha == 0.0:
        return hard
    soft = soft_target_loss(student_logits, teacher_logits, temperature, scale=scale)
    return alpha * soft + (1.0 - alpha) * hard


def soft_gradient(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0, *,
                  scale: bool = True) -> Tensor:
    """Gradient of :func:`soft_target_loss` with respect to the student's logits, by autograd.

    Without the ``T**2`` factor it equals ``(q - p) / (T * batch)``: it shrinks with ``T``.

    >>> z, v = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    >>> soft_gradient(z, v, temperature=1.0)
    tensor([[ 0.4621, -0.4621]])
    """
    z = student_logits.detach().clone().requires_grad_(True)
    soft_target_loss(z, teacher_logits, temperature, scale=scale).backward()
    return z.grad


def soft_share(student_logits: Tensor, teacher_logits: Tensor, y: Tensor, temperature: float = 4.0,
               alpha: float = 0.9, *, scale: bool = True) -> float:
    """The teacher's share of the KD loss gradient: ``|g_soft| / (|g_soft| + |g_hard|)``, weights included.

    With the ``T**2`` factor the share stays near what ``alpha`` says at every temperature;
    without it the teacher's share collapses as ``T`` grows.

    >>> z, v, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([1])
    >>> round(soft_share(z, v, y, temperature=1.0, alpha=0.5), 3)   # |q - p| = 0.65 against |q - onehot| = 1.03
    0.387
    """
    alpha = check_fraction("alpha", alpha)
    g_soft = alpha * soft_gradient(student_logits, teacher_logits, temperature, scale=scale).norm()
    z = student_logits.detach().clone().requires_grad_(True)
    F.cross_entropy(z, y).backward()
    g_hard = (1 - alpha) * z.grad.norm()
    total = float(g_soft + g_hard)
    return float(g_soft) / total if total > 0 else 0.0


# ---------------------------------------------------------------- feature-level transfer


@checked
def attention_map(features: Tensor, p: float = 2.0) -> Tensor:
    """Zagoruyko & Komodakis' spatial attention: ``sum_c |F_c|**p``, flattened, L2-normalised.

    ``features`` ``(B, C, H, W)`` -> ``(B, H * W)``, each row of unit norm (where not all zero).

    >>> a = attention_map(torch.ones(1, 3, 2, 2))
    >>> a, float(a.norm())
    (tensor([[0.5000, 0.5000, 0.5000, 0.5000]]), 1.0)
    """
    if not isinstance(features, Tensor) or features.ndim != 4:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"features must be a 4-D tensor (batch, channels, height, width), got {shape}")
    p = check_number("p", p, 0.0, 16.0, low_inclusive=False)
    a = features.abs().pow(p).mean(1)                 # (B, H, W): mean over channels (same map up to scale)
    return F.normalize(a.flatten(1), dim=1)           # (B, H*W)


@checked(p=(0, math.inf, "()"))
def attention_loss(student_features: Tensor, teacher_features: Tensor, p: float = 2.0) -> Tensor:
    """Mean squared distance between the normalised attention maps of student and teacher.

    As in the authors' code, ``(at(s) - at(t)).pow(2).mean()``; channel counts may differ
    (attention sums over channels). When the spatial sizes differ, the larger map is
    average-pooled to the smaller size first.

    >>> f = torch.randn(2, 4, 7, 7)
    >>> round(float(attention_loss(f, 3 * f)), 6)   # a scale does not change where the net attends
    0.0
    """
    if student_features.ndim != 4 or teacher_features.ndim != 4:
        raise ValueError("student_features and teacher_features must be 4-D (batch, channels, height, width), "
                         f"got {tuple(student_features.shape)} and {tuple(teacher_features.shape)}")
    if len(student_features) != len(teacher_features):
        raise ValueError(f"student_features and teacher_features must have the same batch size, got "
                         f"{len(student_features)} and {len(teacher_features)}")
    s, t = student_features, teacher_features.detach()
    size = (min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3]))
    s = F.adaptive_avg_pool2d(s.abs().pow(p), size) if s.shape[2:] != size else s.abs().pow(p)
    t = F.adaptive_avg_pool2d(t.abs().pow(p), size) if t.shape[2:] != size else t.abs().pow(p)
    a_s = F.normalize(s.mean(1).flatten(1), dim=1)
    a_t = F.normalize(t.mean(1).flatten(1), dim=1)
    return (a_s - a_t).pow(2).mean()


class Regressor(nn.Module):
    """FitNets' regressor: a 1x1 convolution from the student's channels to the teacher's.

    Only used during training (it is not part of the deployed student).

    >>> Regressor(4, 16)(torch.zeros(2, 4, 7, 7)).shape
    torch.Size([2, 16, 7, 7])
    """

    def __init__(self, student_channels: int, teacher_channels: int):
        super().__init__()
        if student_channels < 1 or teacher_channels < 1:
            raise ValueError(f"student_channels and teacher_channels must be >= 1, got "
                             f"{student_channels} and {teacher_channels}")
        self.proj = nn.Conv2d(student_channels, teacher_channels, 1)

    def forward(self, x: Tensor) -> Tensor:  # (B, Cs, H, W) -> (B, Ct, H, W)
        return self.proj(x)


@checked(ndim={"student_features": 4, "teacher_features": 4})
def hint_loss(student_features: Tensor, teacher_features: Tensor, regressor: nn.Module) -> Tensor:
    """FitNets' hint loss: ``0.5 * mean((regressor(student) - teacher)**2)``.

    Spatial sizes must agree after the regressor (pool the larger map first if not).

    >>> r = Regressor(2, 3)
    >>> hint_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4), r).item() >= 0
    True
    """
    guided = regressor(student_features)
    if guided.shape != teacher_features.shape:
        raise ValueError(f"regressor(student_features) must have the teacher's shape {tuple(teacher_features.shape)}, "
                         f"got {tuple(guided.shape)}")
    return 0.5 * (guided - teacher_features.detach()).pow(2).mean()


LOSSES = {
    "kd": "Hinton et al. 2015: soft targets at temperature T, plus hard labels",
    "attention": "Zagoruyko & Komodakis 2017: match normalised spatial attention maps",
    "hint": "Romero et al. 2015 (FitNets): regress the teacher's feature map",
}
