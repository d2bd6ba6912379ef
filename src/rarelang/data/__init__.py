"""Data stages: sample → (translate) → validate → split."""
