"""workbench.replay: an identical call replays the first run exactly; anything different trains."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from workbench import replay


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """A replayable toy training step that counts its real runs, with its own cache folder."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_CACHE", raising=False)
    ran = []

    @replay.replayable
    def step(model: nn.Module, lr: float = 0.1) -> dict:
        ran.append(lr)
        x = torch.randn(8, 4)                                  # consumes random numbers, like training
        loss = model(x).pow(2).mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        model.eval()
        return {"loss": loss.item(), "noise": np.random.rand(), "pick": random.random()}

    return step, ran


def _net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))


def _run(step, **kw):
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    net = _net()
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    out = step(net, **kw)
    after = (torch.rand(3), np.random.rand(), random.random())   # what the next cell would draw
    return net, out, after


def test_an_identical_call_replays_result_weights_mode_and_random_state(calls):
    step, ran = calls
    net1, out1, after1 = _run(step)
    net2, out2, after2 = _run(step)
    assert ran == [0.1]                                        # trained once
    assert out1 == out2
    for a, b in zip(net1.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    assert not net2.training and not net2[0].training
    assert torch.equal(after1[0], after2[0]) and after1[1:] == after2[1:]


def test_other_arguments_weights_or_random_state_train_again(calls):
    step, ran = calls
    _run(step)
    _run(step, lr=0.2)                                         # another argument
    net = _net()
    with torch.no_grad():
        net[0].weight[0, 0] += 1e-3                            # other weights
    torch.manual_seed(0)
    step(net)
    torch.manual_seed(5)                                       # another random state
    step(_net())
    assert ran == [0.1, 0.2, 0.1, 0.1]


def test_cache_off_always_trains(calls, monkeypatch):
    step, ran = calls
    monkeypatch.setenv("WORKBENCH_CACHE", "off")
    _run(step)
    _run(step)
    assert ran == [0.1, 0.1]


def test_a_cut_replay_file_is_trained_again_and_rewritten(calls, tmp_path):
    step, ran = calls
    _, out1, _ = _run(step)
    (path,) = tmp_path.glob("step-*.pt")
    path.write_bytes(path.read_bytes()[:50])
    _, out2, _ = _run(step)
    assert ran == [0.1, 0.1] and out1 == out2
    _run(step)
    assert ran == [0.1, 0.1]                                   # the rewritten file replays


def test_arguments_without_a_content_fingerprint_just_run(calls):
    step, ran = calls

    @replay.replayable
    def touch(thing, model):
        ran.append("touch")
        return 1

    touch(object(), _net())
    touch(object(), _net())
    assert ran == ["touch", "touch"]
    with pytest.raises(replay.Unfingerprintable):
        replay.fingerprint(object())


def test_fingerprint_tells_content_apart():
    assert replay.fingerprint(torch.ones(3)) == replay.fingerprint(torch.ones(3))
    assert replay.fingerprint(torch.ones(3)) != replay.fingerprint(torch.ones(3, dtype=torch.float64))
    assert replay.fingerprint(_net()) == replay.fingerprint(_net())
    assert replay.fingerprint([1, 2]) != replay.fingerprint((1, 2))
    assert replay.fingerprint({"a": 1, "b": 2}) == replay.fingerprint({"b": 2, "a": 1})
    # 0-dim tensors (BatchNorm's num_batches_tracked) and models that hold them
    assert replay.fingerprint(torch.tensor(3)) != replay.fingerprint(torch.tensor(4))
    bn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    before = replay.fingerprint(bn)
    bn.train()(torch.randn(2, 1, 5, 5))                 # updates the running statistics and the counter
    assert replay.fingerprint(bn) != before


def test_the_outermost_run_is_shipped_and_replayed_from_the_course_folder(tmp_path, monkeypatch):
    """tools/lectures.py ship stores the outermost training call of a page (compressed, keyed on the
    function's own module rather than all of the workbench); a machine without that run in its
    cache replays it; another argument trains."""
    ran = []

    @replay.replayable
    def inner(n: int) -> torch.Tensor:
        ran.append("inner")
        return torch.randn(n)

    @replay.replayable
    def outer(n: int) -> torch.Tensor:
        ran.append("outer")
        return inner(n) * 2

    shipped = tmp_path / "shipped"
    monkeypatch.setattr(replay, "SHIPPED", shipped)
    monkeypatch.setenv(replay.SHIP_ENV, str(shipped))
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache-a"))
    torch.manual_seed(0)
    first = outer(3)
    assert ran == ["outer", "inner"] and [p.name.split("-")[0] for p in shipped.glob("*.xz")] == ["outer"]
    monkeypatch.delenv(replay.SHIP_ENV)
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache-b"))      # another machine's cache
    torch.manual_seed(0)
    assert torch.equal(outer(3), first) and ran == ["outer", "inner"]        # from the course's folder
    torch.manual_seed(0)
    outer(4)
    assert ran == ["outer", "inner"] * 2
