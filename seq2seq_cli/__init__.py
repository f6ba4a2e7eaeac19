"""s2s: train attention-based sequence-to-sequence translation models and see their attention."""

__version__ = "0.1.0"
