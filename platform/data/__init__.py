"""Training documents and evaluation questions: the paper's files, HF datasets, synthetic worlds."""
