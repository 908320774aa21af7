"""Model size as the bytes of a real encoding that decodes back.

An *encoding* is a policy that picks a *codec* for every tensor of a model's
effective state dict; ``encode`` writes one self-describing blob (a small JSON
header + payloads) and ``decode`` reads it back into tensors. The size of a model
is ``len(encode(model, encoding))`` — bytes, not arithmetic on parameter counts::

    >>> from workbench import models
    >>> model = models.build("lenet300")
    >>> blob = encode(model, "csr")
    >>> state = decode(blob)                      # the header names the codecs used
    >>> bool((state["classifier.1.weight"] == model.classifier[1].weight).all())
    True

Encodings (``ENCODINGS``):

- ``fp32``: every tensor's raw bytes (a dense checkpoint, minus pickle framing);
- ``fp16``: floats halved (lossy);
- ``csr``: weight matrices in compressed sparse row form — values, column indices
  in the narrowest unsigned type that fits, row pointers; larger than dense below
  roughly 50 % sparsity, as the tables will show;
- ``int8``: symmetric per-output-channel int8 weights with fp32 scales (lossy);
- ``codebook``: each weight tensor as at most 2**bits shared values plus
  bit-packed indices (Han et al. 2016); lossless when the tensor already has that
  few distinct values (after weight sharing), otherwise k-means clusters it;
- ``huffman``: the codebook indices Huffman-coded (Deep Compression's last stage).

Vectors (biases, BatchNorm) stay fp32 in every encoding, as deployed formats keep
them. Later techniques add codecs and encodings with ``register_codec`` and
``register_encoding``.

One module per concern: ``bits`` (bit packing), ``codecs`` (raw, fp16, csr, int8),
``codebook`` (k-means codebooks and Huffman coding), ``container`` (encodings, the
blob format, sizes). A size is only reported as exact (``is_lossless``) when every
tensor decodes to equal values in its own dtype (float64 weights in a float32 codebook
are not).
"""

from .bits import narrowest_uint, pack_bits, rows, unpack_bits
from .codecs import CODECS, Codec, register_codec
from .codebook import canonical_codes, cluster, huffman_lengths, huffman_symbols, pack_codes, shared_values
from .container import (ENCODINGS, MAGIC, Policy, codec_options, compare_encodings, decode, decoded_model, encode,
                        header, is_lossless, register_encoding, size_bytes, torch_save_bytes)

# names of the single-module version, kept for code written against it
_rows, _narrowest_uint, _shared_values, _canonical_codes = rows, narrowest_uint, shared_values, canonical_codes

__all__ = ["CODECS", "Codec", "ENCODINGS", "MAGIC", "Policy", "canonical_codes", "cluster", "codec_options",
           "compare_encodings", "decode", "decoded_model", "encode", "header", "huffman_lengths", "huffman_symbols",
           "is_lossless", "pack_codes",
           "narrowest_uint", "pack_bits", "register_codec", "register_encoding", "rows", "shared_values",
           "size_bytes", "torch_save_bytes", "unpack_bits"]
