import pytest
import torch
from torch.nn.utils import parametrize, prune

import workbench as wb
from helpers import Mask
from workbench import weights
from workbench.solutions.measuring import conv_macs



def _masked_lenet300():
    model = wb.build("lenet300")
    prune.l1_unstructured(model.classifier[1], "weight", amount=0.9)             # PyTorch's hook style
    mask = (torch.rand(100, 300, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    parametrize.register_parametrization(model.classifier[3], "weight", Mask(mask))  # parametrization style
    return model


def test_counts_see_through_both_mask_styles():
    model = _masked_lenet300()
    nnz1 = int((model.classifier[1].weight != 0).sum())
    nnz3 = int((model.classifier[3].weight != 0).sum())
    dense_rest = 300 + 100 + 10 * 100 + 10
    assert wb.count_params(model) == 266610                      # masks and weight_orig not counted twice
    assert wb.count_nonzero(model) == nnz1 + nnz3 + dense_rest
    assert nnz1 == round(0.1 * 784 * 300)
    assert wb.sparsity(model) == pytest.approx(1 - wb.count_nonzero(model) / 266610)


def test_effective_state_dict_has_plain_names_and_masked_values():
    model = _masked_lenet300()
    state = weights.effective_state_dict(model)
    assert set(state) == set(wb.build("lenet300").state_dict())
    assert torch.equal(state["classifier.3.weight"], model.classifier[3].weight)


def test_plain_copy_keeps_outputs_and_leaves_the_original_alone():
    model = _masked_lenet300()
    plain = weights.plain_copy(model)
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(plain(x), model(x))
    assert not parametrize.is_parametrized(plain.classifier[3])
    assert parametrize.is_parametrized(model.classifier[3])     # the original still works
    assert torch.allclose(model(x), plain(x))
    assert set(plain.state_dict()) == set(wb.build("lenet300").state_dict())


def test_deep_copy_of_a_model_pruned_with_torch_prune():
    model = _masked_lenet300()
    copy = weights.deep_copy(model)
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(copy(x), model(x))


def test_macs_match_the_formula_per_layer(ds):
    table = wb.layer_table(wb.build("lenet5"), ds.input_shape)
    assert table.loc["features.0", "macs"] == conv_macs(1, 6, 5, 28, 28)
    assert table.loc["features.3", "macs"] == conv_macs(6, 16, 5, 10, 10)
    assert table.loc["classifier.1", "macs"] == 400 * 120
    assert wb.count_macs(wb.build("lenet5"), ds.input_shape) == table["macs"].sum()


def test_depthwise_macs_match_formula():
    conv = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
    model = torch.nn.Sequential(conv)
    assert wb.count_macs(model, (32, 14, 14)) == conv_macs(32, 32, 3, 14, 14, groups=32)


def test_zeroed_weights_still_cost_dense_macs():
    model = _masked_lenet300()
    dense = wb.count_macs(wb.build("lenet300"), (1, 28, 28))
    assert wb.count_macs(model, (1, 28, 28)) == dense
    sparse = wb.count_macs(model, (1, 28, 28), sparse=True)
    assert sparse == pytest.approx(784 * 300 * 0.1 + 300 * 100 * 0.5 + 100 * 10, rel=0.02)


def test_counting_restores_training_mode():
    model = wb.build("vgg").train()
    wb.count_macs(model, (1, 28, 28))
    wb.layer_table(model, (1, 28, 28))
    assert model.training
