"""An example objective plugin for the knowledge-injection platform (see README.md)."""
