"""Small real models that ship inside PyPI packages (no model hub needed), and loading helpers."""
