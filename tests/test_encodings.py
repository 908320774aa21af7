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


def test_header_is_compressed_and_first_format_blobs_still_decode():
    import json
    import zlib

    state = _state(0.5)
    blob = E.encode(state, "csr")
    head = E.header(blob)
    plain = json.dumps(head, separators=(",", ":")).encode()
    n = int.from_bytes(blob[6:10], "little")
    assert blob.startswith(E.MAGIC) and n == len(zlib.compress(plain, 9)) < len(plain)
    legacy = b"WBENC1" + len(plain).to_bytes(4, "little") + plain + blob[10 + n:]   # the uncompressed format
    back = E.decode(legacy)
    assert E.header(legacy) == head and all(torch.equal(back[k], state[k]) for k in state)


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


# ---------------------------------------------------------------- any dtype, any bad blob (issue: reliability)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("encoding", ["fp32", "fp16", "csr", "int8", "codebook", "huffman"])
def test_every_encoding_stores_every_float_dtype_and_says_honestly_whether_exact(encoding, dtype):
    g = torch.Generator().manual_seed(0)
    w = (torch.randn(6, 5, generator=g) * (torch.rand(6, 5, generator=g) > 0.5)).to(dtype)
    blob = wb.encode({"w": w, "b": torch.ones(6, dtype=dtype)}, encoding, bits=4)
    back = wb.decode(blob)
    assert back["w"].dtype == dtype and back["w"].shape == w.shape
    assert E.is_lossless(blob) == torch.equal(back["w"], w), (encoding, dtype)   # equal values, own dtype


def test_float64_weights_are_not_called_exact_in_a_float32_codebook():
    w = torch.tensor([[0.1, 0.2], [0.1, 0.2]], dtype=torch.float64)           # 0.1 is not a float32
    blob = wb.encode({"w": w}, "codebook", bits=2)
    assert not E.is_lossless(blob) and not torch.equal(wb.decode(blob)["w"], w)
    exact = torch.tensor([[0.5, 0.25], [0.5, 0.25]], dtype=torch.float64)     # float32 holds these
    assert E.is_lossless(wb.encode({"w": exact}, "codebook", bits=2))


def test_unknown_options_and_wrong_models_are_refused():
    with pytest.raises(ValueError, match="unknown option 'bitz' for encode"):
        wb.encode(wb.build("lenet5"), "codebook", bitz=4)
    with pytest.raises(TypeError, match="model must be an nn.Module or a state dict"):
        wb.encode(None)
    with pytest.raises(TypeError, match="model must be an nn.Module or a state dict"):
        wb.size_bytes([1, 2, 3])
    with pytest.raises(ValueError, match="tensor 'z' has dtype torch.complex64"):
        wb.encode({"z": torch.zeros(2, dtype=torch.complex64)})


def test_cut_or_corrupt_blobs_get_a_clear_error():
    blob = wb.encode(wb.build("lenet5"), "huffman")
    with pytest.raises(ValueError, match="blob is cut short: its header describes"):
        wb.decode(blob[:-10])
    with pytest.raises(ValueError, match="cut short inside its header"):
        wb.decode(blob[:20])
    with pytest.raises(ValueError, match="bad magic bytes"):
        wb.decode(b"garbage" * 10)
    corrupt = blob[:11] + b"}" + blob[12:]
    with pytest.raises(ValueError, match="not a valid workbench encoding header"):
        wb.decode(corrupt)
    with pytest.raises(TypeError, match="blob must be bytes"):
        wb.decode(None)


def test_bit_packing_refuses_negative_or_short_input():
    with pytest.raises(ValueError, match="values must be non-negative integers"):
        E.pack_bits(np.array([-1, 2]), 3)
    with pytest.raises(ValueError, match="payload is cut short"):
        E.unpack_bits(b"\x00", 8, 2)
