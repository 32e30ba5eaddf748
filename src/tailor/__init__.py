"""Tailor: adapt a language model to your data by retrieval, fine-tuning or both, and measure which wins."""

__version__ = "0.1.0"
