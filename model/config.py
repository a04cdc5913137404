"""Settings of a scoring job; CLI options map one-to-one onto these fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreConfig:
    model: str | None = None
    """Model directory or hub id; None means the active model."""
    batch_size: int = 32
    """Sentences per forward pass; batches are length-sorted and padded per batch."""
    max_length: int | None = None
    """Tokens kept per sentence; longer sentences are truncated. None: the model's own (saved with it
    at training; 128 for models that do not say)."""
    threads: int | None = None
    """CPU threads for inference; None keeps the framework default."""
    lines: bool = False
    """Treat every input line as one unit instead of splitting sentences."""
    backend: str = "auto"
    """Transformer serving: 'onnx' (ONNX Runtime), 'torch', or 'auto' (ONNX, else PyTorch)."""
    int8: bool = True
    """Serve ONNX models with int8 dynamic quantisation (about 3x faster on CPU)."""
    explain: bool = False
    """Add evidence per sentence: the words that pushed it towards its label (one extra
    model input per word or phrase, so several times the cost of scoring)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {self.max_length}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
