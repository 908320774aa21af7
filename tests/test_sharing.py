"""Tests of workbench.sharing: k-means sharing, the codecs (round trips, fillers, Huffman), the
centroid gradient, the pipeline's per-stage bytes, the explorer and the exercises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

import workbench as wb
from workbench import sharing as sh
from workbench.exercises import sharing as ex
from workbench.sharing import storage
from workbench.solutions import sharing as ref
from workbench.weights import deep_copy, effective_state_dict, plain_copy

MODES = storage.MODES


@pytest.fixture(scope="module")
def small():
    full = wb.load("digits")
    # a small dataset keeps training-based tests fast; the splits stay real digits
    return dataclasses.replace(full, X_train=full.X_train[:256], y_train=full.y_train[:256],
                               X_val=full.X_val[:200], y_val=full.y_val[:200],
                               X_test=full.X_test[:200], y_test=full.y_test[:200])


def _sparse(shape, density, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g)
    return w * (torch.rand(*shape, generator=g) < density)


def _pruned(name="lenet300", amount=0.9):
    from workbench.pruning import schedules
    return plain_copy(schedules.prune_by_magnitude(wb.get_baseline(name), amount, "layer"))


# ---------------------------------------------------------------- k-means


def test_kmeans_is_exact_when_k_covers_the_distinct_values():
    values = np.array([0.5, -1.0, 0.5, 2.0, -1.0, 3.0])
    for k in (4, 5, 64):
        centroids, labels = sh.kmeans_1d(values, k)
        assert np.array_equal(centroids[labels], values.astype(np.float32))


@pytest.mark.parametrize("init", sh.INITS)
def test_kmeans_matches_sklearn_lloyd_on_one_dimension(init):
    from sklearn.cluster import KMeans
    values = np.random.default_rng(1).normal(size=3000)
    ours, labels = sh.kmeans_1d(values, 8, init)
    start = sh.init_centroids(values, 8, init).reshape(-1, 1)
    theirs = np.sort(KMeans(8, init=start, n_init=1, max_iter=30).fit(values.reshape(-1, 1)).cluster_centers_.ravel())
    assert np.allclose(ours, theirs, atol=1e-5)
    assert np.array_equal(labels, np.abs(values[:, None] - ours[None, :]).argmin(1))   # nearest centroid


def test_init_centroids_linear_density_random():
    v = np.array([-2.0, 0.0, 0.1, 0.2, 0.3, 4.0])
    assert sh.init_centroids(v, 3, "linear").tolist() == [-2.0, 1.0, 4.0]
    assert sh.init_centroids(v, 3, "density").tolist() == pytest.approx(np.quantile(v, [0, 0.5, 1]).tolist())
    assert set(sh.init_centroids(v, 3, "random", seed=2).tolist()) <= set(v.tolist())


def test_share_keeps_zeros_and_at_most_2_pow_bits_values():
    w = _sparse((40, 50), 0.2).numpy()
    for bits in (1, 2, 3, 5):
        book, index = sh.share(w, bits)
        shared = book[index]
        assert len(np.unique(shared)) <= 2**bits
        assert np.array_equal(shared == 0, w == 0)          # pruned stay pruned, survivors stay non-zero


# ---------------------------------------------------------------- relative indices and codecs


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8])
def test_relative_indices_match_a_loop_and_invert(bits):
    pos = np.sort(np.random.default_rng(bits).choice(2000, 60, replace=False))
    gaps, filler = sh.relative_indices(pos, bits)
    want_gaps, want_filler = ref.relative_indices(pos.tolist(), bits)
    assert gaps.tolist() == want_gaps and filler.tolist() == want_filler
    assert gaps.max() <= 2**bits and gaps.min() >= 1
    assert sh.positions(gaps, filler).tolist() == pos.tolist()


TENSORS = {
    "sparse fc": _sparse((30, 40), 0.1),
    "sparse conv": _sparse((6, 3, 5, 5), 0.3),
    "long gaps": torch.zeros(2, 300).index_fill_(1, torch.tensor([0, 150, 299]), 0.7),
    "all zero": torch.zeros(8, 9),
    "empty": torch.zeros(0, 5),
    "dense": torch.randn(7, 6, generator=torch.Generator().manual_seed(3)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(TENSORS))
def test_codecs_round_trip_exactly_when_the_codebook_fits(mode, name):
    t = TENSORS[name]
    if mode != "relative" and t.numel():                    # share first, so the codebook is exact
        book, index = sh.share(t.numpy(), 3)
        t = torch.from_numpy(book[index])
    meta, payload, parts = sh.encode_tensor(t, mode, fc_bits=3, conv_bits=3, fc_index_bits=3, conv_index_bits=4)
    back = sh.decode_tensor({"mode": mode}, payload, tuple(t.shape), t.dtype)
    assert torch.equal(back, t)
    assert sum(parts.values()) == len(payload)
    assert meta.get("exact", True)


def test_gaps_that_overflow_need_fillers_and_cost_bytes():
    t = TENSORS["long gaps"]
    meta, _, parts = sh.encode_tensor(t, "relative", fc_index_bits=3)
    assert meta["m"] > 6 and parts["fillers"] > 0          # 6 non-zeros, gaps up to 151
    meta8, _, parts8 = sh.encode_tensor(t, "relative", fc_index_bits=8)
    assert meta8["m"] == 6 and parts8["fillers"] == 0


def test_shared_codec_clusters_when_there_are_too_many_values():
    t = _sparse((30, 40), 0.5)
    meta, payload, _ = sh.encode_tensor(t, "relative_shared", fc_bits=2)
    back = sh.decode_tensor({"mode": "relative_shared"}, payload, tuple(t.shape), t.dtype)
    assert meta["exact"] is False and len(torch.unique(back[back != 0])) <= 4   # zeros are not stored
    assert torch.equal(back == 0, t == 0)


def test_huffman_stream_round_trip_and_beats_fixed_width_on_skewed_symbols():
    symbols = np.random.default_rng(0).geometric(0.3, 5000).clip(1, 32) - 1
    lengths, payload, nbits = storage.huffman_stream(symbols, 32)
    assert storage.huffman_symbols(lengths, payload, nbits, symbols.size).tolist() == symbols.tolist()
    assert nbits < 5 * symbols.size


@pytest.mark.parametrize("encoding", list(storage.STAGE_ENCODINGS))
def test_stage_encodings_decode_to_the_model_and_parts_add_up(encoding):
    model = plain_copy(sh.share_weights(_pruned("lenet5", 0.8), 4, 4))
    blob = wb.encode(model, encoding, conv_bits=4, fc_bits=4)
    state, back = effective_state_dict(model), wb.decode(blob)
    assert all(torch.equal(state[k], back[k]) for k in state)
    assert wb.encodings.is_lossless(blob)
    assert sh.breakdown(model, encoding, conv_bits=4, fc_bits=4).to_numpy().sum() == len(blob)


def test_stages_get_smaller():
    model = plain_copy(sh.share_weights(_pruned("lenet300", 0.9), 8, 5))
    sizes = [len(wb.encode(model, e)) for e in ("fp32", "pruned", "pruned_shared", "deep_compression")]
    assert sizes == sorted(sizes, reverse=True)


# ---------------------------------------------------------------- centroid gradient and fine-tuning


def test_centroid_gradient_matches_a_loop():
    g = torch.randn(200, generator=torch.Generator().manual_seed(0))
    idx = torch.randint(0, 7, (200,), generator=torch.Generator().manual_seed(1))
    loop = torch.zeros(7)
    for gi, i in zip(g, idx):
        loop[i] += gi
    assert torch.allclose(sh.centroid_gradient(g, idx, 7), loop, atol=1e-6)


def test_autograd_through_the_codebook_is_the_scatter_add():
    model = sh.share_weights(_pruned("lenet300", 0.9), fc_bits=3)
    layer = model.classifier[3]
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with parametrize.cached():
        w = layer.weight
        w.retain_grad()
        F.cross_entropy(model(x), torch.arange(16) % 10).backward()
    p = layer.parametrizations.weight[0]
    want = sh.centroid_gradient(w.grad, p.index, p.centroids.numel()) * p.live
    assert torch.allclose(p.centroids.grad, want, atol=1e-7)
    assert p.centroids.grad[p.live == 0].abs().max() == 0          # the zero entry never moves


@pytest.mark.slow
@pytest.mark.parametrize("rule", sh.RULES)
def test_fine_tuning_keeps_the_codebook_size_and_the_zeros(small, rule):
    pruned = _pruned("lenet300", 0.9)
    shared = sh.share_weights(deep_copy(pruned), fc_bits=3)
    before = plain_copy(shared)
    tuned = sh.fine_tune_centroids(shared, small, rule=rule, num_epochs=1, lr=1e-3)
    for name in ("classifier.1", "classifier.3"):
        w, w0 = tuned.get_submodule(name).weight, before.get_submodule(name).weight
        assert len(torch.unique(w)) <= 8
        assert torch.equal(w == 0, pruned.get_submodule(name).weight == 0)
        assert not torch.equal(w, w0)                             # it trained


def test_hash_share_uses_at_most_2_pow_bits_values_and_keeps_zeros():
    pruned = _pruned("lenet300", 0.9)
    hashed = plain_copy(sh.hash_share(deep_copy(pruned), 3))
    w, w0 = hashed.classifier[1].weight, pruned.classifier[1].weight
    assert len(torch.unique(w)) <= 8 and torch.equal(w == 0, w0 == 0)


# ---------------------------------------------------------------- formula, pipeline, explorer


def test_rate_formula_matches_measured_codebook_bytes():
    table = sh.rate_check(wb.get_baseline("lenet300").classifier[1].weight, bits_list=(2, 5))
    assert np.allclose(table["formula ratio"], table["measured ratio"], rtol=1e-3)
    assert sh.compression_rate(1000, 32, 16) == pytest.approx(ref.compression_rate(1000, 32, 16))


def test_every_stage_is_measured_on_its_decoded_bytes(small):
    recipe = sh.Recipe(amounts=(0.9, 0.9, 0.5), prune_rounds=1, prune_epochs=0, share_epochs=0)
    run = sh.deep_compress("lenet300", small, recipe)
    for stage, blob in run.blobs.items():
        assert run.table.loc[stage, "bytes"] == len(blob)
        decoded = wb.encodings.decoded_model(run.models[stage], blob)
        assert run.table.loc[stage, "test_acc"] == wb.evaluate(decoded, small.X_test, small.y_test)
    assert run.table["ratio"].is_monotonic_increasing
    layers = sh.layer_table(run)
    assert (layers["weight bits (P+Q)"] == 5).all() and (layers["index bits (P+Q)"] == 5).all()
    table = sh.side_by_side({"LeNet-300-100": run})
    assert list(table.index.get_level_values(1)) == ["Han et al. 2016", "measured here"]


def test_explorer_moves_and_caches(small):
    explorer = sh.make_explorer(small, latency="off", sparsity=0.8)
    first = explorer.set(sparsity=0.9, fc_bits=3, conv_bits=4)
    n_kmeans = len(explorer.sharer.kmeans)
    explorer.set(sparsity=0.5)
    back = explorer.set(sparsity=0.9)
    assert back.size_bytes == first.size_bytes and len(explorer.sharer.kmeans) > n_kmeans
    parts = explorer.bytes_bar.parts
    assert parts["+ Huffman"].sum() == first.size_bytes
    assert parts["+ Huffman"].sum() < parts["+ shared"].sum() < parts["pruned"].sum()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, arg", [
    (lambda: sh.share(np.ones(4), 0), "bits"),
    (lambda: sh.share(np.ones(4), 17), "bits"),
    (lambda: sh.share(np.ones(4), 3, "kmeans++"), "init"),
    (lambda: sh.init_centroids(np.ones(4), 3, "uniform"), "init"),
    (lambda: sh.relative_indices(np.array([1, 2]), 0), "index_bits"),
    (lambda: sh.encode_tensor(torch.ones(2, 2), "relative_shared", fc_bits=17), "fc_bits"),
    (lambda: sh.encode_tensor(torch.ones(2, 2), "zip"), "mode"),
    (lambda: sh.share_weights(wb.build("lenet300"), conv_bits=0), "conv_bits"),
    (lambda: sh.explorer.Sharer(wb.build("lenet300")).pruned(1.0), "sparsity"),
    (lambda: sh.explorer.Sharer(wb.build("lenet300"))(wb.build("lenet300"), -0.1, 4, 4, "linear"), "sparsity"),
    (lambda: sh.explorer.Sharer(wb.build("lenet300"))(wb.build("lenet300"), 0.5, 4, 4, "magic"), "init"),
    (lambda: sh.pipeline.prune_magnitude(wb.build("lenet300"), None, (0.5, 1.0, 0.5)), "amounts"),
    (lambda: sh.pipeline.prune_magnitude(wb.build("lenet300"), None, (0.5,)), "amounts"),
    (lambda: sh.deep_compress("vgg", None), "recipe"),
    (lambda: sh.fine_tune_centroids(wb.build("lenet300"), None), "share_weights"),
    (lambda: sh.fine_tune_centroids(sh.share_weights(wb.build("lenet300"), 4, 2), None, rule="adam"), "rule"),
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


# ---------------------------------------------------------------- exercises


CHECKS = {"linear_init": ex._linear, "centroid_gradient": ex._gradient, "relative_indices": ex._relative,
          "compression_rate": ex._rate}


@pytest.mark.parametrize("name", list(CHECKS))
def test_each_check_passes_the_solution_and_names_each_mistake(name):
    check = getattr(ex, f"check_{name}")
    assert check(getattr(ref, name)).passed
    for hint, wrong in CHECKS[name].mistakes.items():
        feedback = check(wrong)
        assert not feedback.passed and hint in feedback.message, (name, hint, feedback.message)
    assert not check(lambda *a: (_ for _ in ()).throw(NotImplementedError())).attempted
