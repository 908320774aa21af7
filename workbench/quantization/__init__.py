"""Quantization: from the rounding rule to real int8 kernels and binary weights (notebook 04).

One module per concern, each usable on its own:

- :mod:`.affine` — the uniform affine rule (scale, zero point; symmetric / asymmetric;
  per-tensor / per-channel), quantize / dequantize, rounding and clipping error;
- :mod:`.calibration` — ranges from data: min-max, percentile, MSE-optimal (``CALIBRATIONS``);
- :mod:`.fake` — fake quantizers with the straight-through estimator, ``quantize_model``
  (post-training quantization, and the starting point of quantization-aware training);
- :mod:`.integer` — one layer in integer-only arithmetic (Jacob et al. 2018), BatchNorm folding;
- :mod:`.real` — PyTorch's real int8 CPU model behind one function, ``to_int8``, and
  ``compare`` (fp32 / fake-quant / int8, interleaved timings);
- :mod:`.binary` — BinaryConnect, XNOR-Net, ternary and HORQ weights;
- :mod:`.packing` — the ``packed`` encoding: codes at their bit width, real bytes;
- :mod:`.analysis` — sweeps behind the notebook's tables (error against bits, layer sensitivity);
- :mod:`.plots` — the notebook's figures; :mod:`.explorer` — ``make_explorer``.

    >>> import torch
    >>> from workbench.quantization import affine
    >>> affine.qrange(4, symmetric=True)
    (-7, 7)
"""

from . import affine, binary, calibration, fake, integer, packing  # noqa: F401  (packing registers "packed")
