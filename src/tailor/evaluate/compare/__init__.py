"""`tailor compare`: closed book, RAG, fine-tuned and hybrid arms measured on the same questions."""

from tailor.evaluate.compare.config import ArmConfig, CompareConfig
from tailor.evaluate.compare.runner import CompareResult, run_compare

__all__ = ["ArmConfig", "CompareConfig", "CompareResult", "run_compare"]
