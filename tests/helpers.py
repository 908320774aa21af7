"""Small building blocks several test files share."""

import torch


class Mask(torch.nn.Module):
    """The simplest pruning parametrization: ``weight = original * mask``."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask
