"""CTR prediction models (the BARS core set), each a ``torch.nn.Module`` mapping a
:class:`~recbench.models.ctr.layers.CTRInputs` batch to ``(B,)`` click logits, built on the
shared :class:`~recbench.models.ctr.layers.FieldEmbedding` and
:class:`~recbench.models.ctr.layers.MLP`."""
