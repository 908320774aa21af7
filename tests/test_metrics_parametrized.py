"""count_macs on models whose weights are parametrizations (masks, fake quantizers)."""

import torch
from torch import nn
from torch.nn.utils import parametrize

import workbench as wb


class _Scale(nn.Module):
    def forward(self, w):
        return 0.5 * w


def test_count_macs_sees_through_parametrizations():
    model = wb.build("lenet5")
    dense = wb.count_macs(model, (1, 28, 28))
    parametrize.register_parametrization(model.features[0], "weight", _Scale())
    parametrize.register_parametrization(model.classifier[1], "weight", _Scale())
    assert wb.count_macs(model, (1, 28, 28)) == dense
    assert model.features[0].parametrizations.weight.original.requires_grad
    assert torch.is_grad_enabled()
