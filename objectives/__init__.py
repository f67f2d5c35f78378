"""Training objectives: each one a plugin (see ``objectives/base.py`` and docs/objectives.md)."""
