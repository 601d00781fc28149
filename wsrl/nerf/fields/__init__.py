"""Pure-PyTorch NeRF fields: tcnn layouts (``layout``), encodings, the bias-free MLP,
the batched field (``field``) and tcnn flat-parameter import/export (``tcnn``)."""
