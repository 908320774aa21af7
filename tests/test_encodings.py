import numpy as np
import pytest
import torch

import workbench as wb
from workbench import encodings as E


def _state(sparsity=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(64, 3, 3, 3, generator=g)
    w[torch.rand(w.shape, generator=g) < sparsity] = 0
    return {"conv.weight": w, "fc.weight": torch.randn(10, 300, generator=g) * (
        torch.rand(10, 300, generator=g) >= sparsity), "fc.bias": torch.randn(10, generator=g),
        "bn.num_batches_tracked": torch.tensor(7), "empty": torch.zeros(0, 4)}


@pytest.mark.parametrize("encoding", ["fp32", "csr"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.95, 1.0])
def test_lossless_encodings_round_trip_exactly(encoding, sparsity):
    state = _state(sparsity)
    back = E.decode(E.encode(state, encoding))
    assert list(back) == list(state)
    for k in state:
        assert back[k].dtype == state[k].dtype and torch.equal(back[k], state[k]), k
    assert E.is_lossless(E.encode(state, encoding))


@pytest.mark.parametrize("encoding", ["fp16", "int8", "codebook", "huffman"])
def test_lossy_encodings_are_idempotent(encoding):
    once = E.decode(E.encode(_state(0.5), encoding, bits=4))
    twice = E.decode(E.encode(once, encoding, bits=4))
    for k in once:
        assert torch.allclose(once[k], twice[k], rtol=1e-6, atol=1e-7), k


def test_int8_error_is_at_most_half_a_step():
    state = _state()
    back = E.decode(E.encode(state, "int8"))
    w = state["conv.weight"].reshape(64, -1)
    scale = w.abs().amax(1, keepdim=True) / 127
    assert ((back["conv.weight"].reshape(64, -1) - w).abs() <= scale / 2 + 1e-7).all()
    assert torch.equal(back["fc.bias"], state["fc.bias"])        # vectors stay fp32


def test_codebook_is_exact_for_shared_weights():
    g = torch.Generator().manual_seed(0)
    levels = torch.tensor([-0.5, -0.1, 0.0, 0.2, 0.7])
    w = levels[torch.randint(0, 5, (50, 40), generator=g)]
    for encoding in ("codebook", "huffman"):
        blob = E.encode({"w": w}, encoding, bits=3)
        assert E.is_lossless(blob) and torch.equal(E.decode(blob)["w"], w)
    meta = E.header(E.encode({"w": w}, "codebook"))["tensors"][0]["meta"]
    assert meta["k"] == 5 and meta["bits"] == 3              # ceil(log2 5) bits per index


def test_codebook_clusters_with_k_means_when_values_are_many():
    w = torch.randn(100, 50, generator=torch.Generator().manual_seed(0))
    blob = E.encode({"w": w}, "codebook", bits=3)
    back = E.decode(blob)["w"]
    assert not E.is_lossless(blob) and len(torch.unique(back)) <= 8
    assert (back - w).abs().mean() < 0.2


def test_csr_costs_more_than_dense_when_nothing_is_zero_and_less_when_most_is():
    dense, sparse = _state(0.0), _state(0.9)
    assert len(E.encode(dense, "csr")) > len(E.encode(dense, "fp32"))
    assert len(E.encode(sparse, "csr")) < 0.3 * len(E.encode(sparse, "fp32"))


def test_fp32_size_is_the_raw_bytes_plus_a_small_header():
    model = wb.build("lenet300")
    raw = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert raw < E.size_bytes(model) < raw + 2000


def test_huffman_shortens_frequent_symbols():
    assert E.huffman_lengths(np.array([5, 1, 1, 2])).tolist() == [1, 3, 3, 2]
    lengths = E.huffman_lengths(np.array([50, 20, 10, 10, 5, 5]))
    assert (2.0 ** -lengths).sum() == pytest.approx(1.0)              # a complete prefix code (Kraft)
    skewed = torch.zeros(100, 100)                  # 95% zeros, four rare values: 3 bits each in a codebook
    skewed[:5] = torch.tensor([1.0, 2.0, 3.0, 4.0]).repeat(125).reshape(5, 100)
    assert len(E.encode({"w": skewed}, "huffman")) < 0.6 * len(E.encode({"w": skewed}, "codebook"))


def test_pack_bits_round_trip():
    values = np.random.default_rng(0).integers(0, 32, size=1001)
    assert np.array_equal(E.unpack_bits(E.pack_bits(values, 5), 5, 1001), values)
    assert len(E.pack_bits(values, 5)) == (1001 * 5 + 7) // 8
    with pytest.raises(ValueError, match=r"values must be below 2\*\*bits = 32, got 40"):
        E.pack_bits(np.array([40]), 5)


def test_decoded_model_holds_the_stored_weights():
    model = wb.get_baseline("lenet5")
    blob = E.encode(model, "int8")
    copy = E.decoded_model(model, blob)
    assert torch.equal(copy.features[0].weight, E.decode(blob)["features.0.weight"])


def test_compare_encodings_table():
    table = E.compare_encodings(wb.build("lenet5"), ["fp32", "int8", "csr"])
    assert table.loc["fp32", "ratio_to_fp32"] == 1.0 and table.loc["csr", "exact"]
    assert 3.5 < table.loc["int8", "ratio_to_fp32"] < 4.0


def test_register_a_new_codec():
    E.register_codec("sign", lambda t: ({}, E.pack_bits((t > 0).reshape(-1).numpy(), 1)),
                     lambda meta, payload, shape, dtype: (torch.from_numpy(
                         E.unpack_bits(payload, 1, int(np.prod(shape))).astype(np.float32)) * 2 - 1).reshape(shape),
                     lossless=False)
    E.register_encoding("sign-test", lambda name, t: "sign" if t.ndim >= 2 else "raw")
    try:
        w = torch.randn(16, 16)
        assert torch.equal(E.decode(E.encode({"w": w}, "sign-test"))["w"], torch.sign(w))
    finally:
        E.ENCODINGS.pop("sign-test")
        E.CODECS.pop("sign")


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown encoding 'zip'; encoding must be one of: fp32, fp16, csr"):
        E.encode({"w": torch.ones(2, 2)}, "zip")
    with pytest.raises(ValueError, match="bad magic bytes"):
        E.decode(b"PK\x03\x04")
    with pytest.raises(ValueError, match=r"bits must be in \[1, 16\], got 20"):
        E.encode({"w": torch.ones(2, 2)}, "codebook", bits=20)
