"""Synthetic knowledge worlds generated in code: the embedded default needs no download."""
