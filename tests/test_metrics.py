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


# ---------------------------------------------------------------- the light MAC counter against PyTorch's


def _flop_counter_macs(model, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


class _Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x):
        seq = x.flatten(2).transpose(1, 2)                      # (batch, 49, 16)
        return self.attn(seq, seq, seq)[0].sum(1)


class _Einsum(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(28, 10))

    def forward(self, x):
        return torch.einsum("bchw,wk->bk", x, self.w)


def _models():
    import torchvision

    from workbench import dynamic, efficient, models

    yield from ((name, models.build(name), (1, 1, 28, 28)) for name in models.MODELS)
    yield from ((f"tinynet-{b}", efficient.build_net(b, 0.5, 20, seed=0), (2, 1, 28, 28))
                for b in ("separable", "standard", "shuffle", "fire"))
    yield "early-exit", dynamic.EarlyExitNet(channels=(4, 8, 8)), (1, 1, 28, 28)
    yield "resnet18", torchvision.models.resnet18(num_classes=10), (1, 3, 32, 32)
    yield "mobilenet_v2", torchvision.models.mobilenet_v2(num_classes=10), (1, 3, 32, 32)
    pruned = wb.build("lenet5")
    parametrize.register_parametrization(pruned.features[0], "weight", Mask(torch.ones_like(pruned.features[0].weight)))
    yield "lenet5-masked", pruned, (1, 1, 28, 28)
    yield "attention", _Attention(), (2, 16, 7, 7)
    yield "einsum", _Einsum(), (2, 1, 28, 28)


@pytest.mark.parametrize("name,model,shape", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_light_mac_counter_agrees_with_pytorchs_or_hands_over(name, model, shape):
    from workbench.metrics import _light_macs

    x = torch.zeros(shape)
    reference = _flop_counter_macs(model.eval(), x)
    light = _light_macs(model, x)
    if name in ("attention", "einsum"):
        assert light is None                                 # functions it does not know: PyTorch counts
    else:
        assert light == reference > 0
    assert wb.count_macs(model, shape[1:]) * shape[0] == reference


def test_counting_macs_of_the_courses_models_does_not_import_dynamo():
    """FlopCounterMode's first use imports torch._dynamo: 1-1.7 s of every lecture page's kernel."""
    import subprocess
    import sys

    code = ("import sys, workbench as wb\n"
            "from workbench import efficient\n"
            "print(wb.count_macs(wb.build('lenet5'), (1, 28, 28)), "
            "wb.count_macs(efficient.build_net('separable', 1.0, 28, seed=0), (1, 28, 28)), "
            "'torch._dynamo' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["416520", "585504", "False"], run.stdout


def test_an_int8_model_is_handed_to_pytorchs_counter(ds):
    """Quantized ops take packed parameters, not weight tensors: the light counter must not read them."""
    from workbench.metrics import _light_macs
    from workbench.quantization import real

    q = real.to_int8(wb.get_baseline("lenet5"), ds.X_val[:64])
    x = torch.zeros(1, 1, 28, 28)
    assert _light_macs(q, x) is None
    assert wb.count_macs(q, (1, 28, 28)) == _flop_counter_macs(q, x)
