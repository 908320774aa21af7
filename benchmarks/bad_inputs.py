"""Try the bad inputs a learner is likely to type and print what each one gets.

    python benchmarks/bad_inputs.py

Every line should be one clear sentence naming the argument and what is allowed
(the unit tests pin these messages; this prints them side by side).
"""

from __future__ import annotations

import torch

import workbench as wb

CASES = [
    ("wb.load('imagenet')", lambda: wb.load("imagenet")),
    ("wb.load('mnist', fallback=None)  # offline", lambda: wb.load("mnist", fallback=None)),
    ("wb.build('alexnet')", lambda: wb.build("alexnet")),
    ("wb.build('vgg', width=0)", lambda: wb.build("vgg", width=0)),
    ("wb.build('lenet5', (1, 8, 8))", lambda: wb.build("lenet5", (1, 8, 8))),
    ("wb.get_baseline('resnet50')", lambda: wb.get_baseline("resnet50")),
    ("wb.get_baseline('lenet5', 'svhn')", lambda: wb.get_baseline("lenet5", "svhn")),
    ("wb.train(model, ds, lr=0)", lambda: wb.train(wb.build("lenet5"), wb.load(), lr=0)),
    ("wb.train(model, ds, optimizer='lbfgs')", lambda: wb.train(wb.build("lenet5"), wb.load(), optimizer="lbfgs")),
    ("wb.evaluate(model, X[:3], y[:2])", lambda: wb.evaluate(wb.build("lenet5"), wb.load().X_test[:3],
                                                              wb.load().y_test[:2])),
    ("wb.size_bytes(model, 'zip')", lambda: wb.size_bytes(wb.build("lenet5"), "zip")),
    ("wb.encode(model, 'codebook', bits=20)", lambda: wb.encode(wb.build("lenet5"), "codebook", bits=20)),
    ("wb.measure_latency(model, (1, 28, 28), batch_size=0)",
     lambda: wb.measure_latency(wb.build("lenet5"), (1, 28, 28), batch_size=0)),
    ("wb.report(rows, baseline='vgg')", lambda: wb.report({"a": _row()}, baseline="vgg")),
    ("wb.Slider(1.0, 0.0, 0.1)", lambda: wb.Slider(1.0, 0.0, 0.1)),
    ("wb.Explorer(fn, {...}, latency='always')",
     lambda: wb.Explorer(lambda m, a: m, {"a": wb.Slider(0.0, 1.0, 0.1)}, baseline=wb.build("lenet5"),
                         data=wb.load(), latency="always")),
    ("wb.setup(seed=-1)", lambda: wb.setup(seed=-1)),
    # notebook 01
    ("pruning.channel_scores(vgg, 'l2')", lambda: _pr().channel_scores(wb.build("vgg"), "l2")),
    ("pruning.weight_scores(vgg, 'apoz')", lambda: _pr().weight_scores(wb.build("vgg"), "apoz")),
    ("pruning.prune_channels(vgg, scores, 1.0)",
     lambda: _pr().prune_channels(wb.build("vgg"), _pr().channel_scores(wb.build("vgg"), "l1"), 1.0)),
    ("pruning.mask_weights(lenet300, scores, 0.5, scope='net')",
     lambda: _pr().mask_weights(wb.build("lenet300"), _pr().weight_scores(wb.build("lenet300"), "l1"), 0.5,
                                scope="net")),
    # notebook 04
    ("affine.scale_zero_point(x, bits=33)", lambda: _q().affine.scale_zero_point(torch.ones(3), 33)),
    ("affine.scale_zero_point(torch.empty(0))", lambda: _q().affine.scale_zero_point(torch.empty(0))),
    # notebook 05
    ("lowrank.svd_linear(Linear(784, 300), rank=301)", lambda: _lr().svd_linear(torch.nn.Linear(784, 300), 301)),
    ("lowrank.decompose(lenet300, 'svd', energy=1.5)",
     lambda: _lr().decompose(wb.build("lenet300"), "svd", energy=1.5)),
    ("lowrank.tucker_conv(Linear(10, 4), (2, 2))", lambda: _lr().tucker_conv(torch.nn.Linear(10, 4), (2, 2))),
    ("lowrank.decompose(lenet300, 'tucker', energy=0.5)  # no conv",
     lambda: _lr().decompose(wb.build("lenet300"), "tucker", energy=0.5)),
    # notebook 06
    ("kd_loss(student, teacher, y, temperature=0)",
     lambda: _kd().kd_loss(torch.zeros(2, 10), torch.zeros(2, 10), torch.zeros(2, dtype=torch.long), 0)),
    ("kd_loss(..., alpha=1.5)",
     lambda: _kd().kd_loss(torch.zeros(2, 10), torch.zeros(2, 10), torch.zeros(2, dtype=torch.long), 4.0, 1.5)),
    ("kd_loss(student (2, 10), teacher (2, 5), y)",
     lambda: _kd().kd_loss(torch.zeros(2, 10), torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))),
]


def _pr():
    from workbench import pruning
    return pruning


def _q():
    from workbench import quantization
    return quantization


def _lr():
    from workbench import lowrank
    return lowrank


def _kd():
    from workbench.distillation import losses
    return losses


def _row():
    return wb.measure(wb.build("lenet5"), wb.load(), latency_batches=())


def main() -> None:
    import workbench.data as data_mod

    data_mod._load_cached("digits", True)
    for label, fn in CASES:
        try:
            fn()
            print(f"{label:55s} -> (no error)")
        except Exception as err:  # noqa: BLE001 - we print what the learner would see
            print(f"{label:55s} -> {type(err).__name__}: {err}")
    explorer = wb.Explorer(_fails_above_half, {"amount": wb.Slider(0.0, 0.9, 0.1)},
                           baseline=wb.get_baseline("lenet5"), data=wb.load(), latency="off")
    explorer.controls["amount"].value = 0.8
    shown = explorer.status.value
    explorer.controls["amount"].value = 0.2
    print(f"{'explorer callback raising at amount=0.8':55s} -> panel shows: "
          f"{shown.split('&#9888; ')[-1].removesuffix('</span>')}; next move works: {explorer.status.value == ''}")


def _fails_above_half(model: torch.nn.Module, amount: float) -> torch.nn.Module:
    if amount > 0.5:
        raise RuntimeError(f"cannot prune {amount:.0%} of this toy model")
    return model


if __name__ == "__main__":
    main()
