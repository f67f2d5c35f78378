"""What an objective hands the data stream: fixed examples in, per-epoch samples out.

Why here, below the objectives: the stream collates samples and the objectives make them,
so the format belongs to neither; plugin authors import these names from
``objectives.base``, which re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100
"""Label value that carries no loss (PyTorch's cross-entropy ``ignore_index``)."""


@dataclass(frozen=True)
class Example:
    """One tokenized training item, fixed for the whole trial."""

    example_id: int
    """Its index in ``encode``'s list: the stream looks examples up by id."""
    ids: tuple[int, ...]
    """The document (or answer) tokens: what masking corrupts."""
    context: tuple[int, ...] = ()
    """Never-corrupted tokens that come first (e.g. a math question)."""


@dataclass
class Sample:
    """One training sequence for one epoch."""

    input_ids: list[int]
    labels: list[int]
    """Same length as ``input_ids``; ``IGNORE`` where no loss goes."""
    weight: float = 1.0
    """Per-sequence loss weight, handed to ``Objective.loss`` as ``weights`` (1.0: unweighted)."""
