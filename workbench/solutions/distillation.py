"""Reference solutions for notebook 06 (knowledge distillation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def softened_softmax(logits: Tensor, temperature: float) -> Tensor:
    """``softmax(logits / T)`` over the last dimension, computed stably (subtract the max first).

    >>> softened_softmax(torch.tensor([0.0, 2.0]), 2.0)
    tensor([0.2689, 0.7311])
    """
    z = logits / temperature
    z = z - z.max(dim=-1, keepdim=True).values        # exp of large logits would overflow
    e = z.exp()
    return e / e.sum(dim=-1, keepdim=True)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, y: Tensor, temperature: float, alpha: float) -> Tensor:
    """``alpha * T**2 * KL(p_teacher || q_student) + (1 - alpha) * CE(student, y)``, batch mean.

    >>> z = torch.tensor([[1.0, 0.0]])
    >>> round(float(kd_loss(z, z, torch.tensor([0]), 4.0, 1.0)), 4)
    0.0
    """
    log_q = F.log_softmax(student_logits / temperature, dim=1)
    p = F.softmax(teacher_logits / temperature, dim=1)
    soft = F.kl_div(log_q, p, reduction="batchmean") * temperature**2
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, y)


def choose_temperature_and_alpha() -> tuple[float, float]:
    """A temperature and alpha that beat the scratch student on the validation split (found with the explorer)."""
    return 8.0, 0.9
