"""Document loaders: files and folders in, `Document`s and `LoadError`s out.

Formats live in a table keyed by extension (`LOADERS`, see `registry.py`); each is one small function.
"""

from tailor.kb.loaders.base import FunctionLoader, Loaded, Loader, LoadFailure
from tailor.kb.loaders.load import DEFAULT_GROUPS, discover, load_documents, load_file
from tailor.kb.loaders.registry import LOADERS, loader_for, register
from tailor.kb.loaders.sidecar import SIDECAR, read_sidecar

__all__ = [
    "DEFAULT_GROUPS",
    "LOADERS",
    "SIDECAR",
    "FunctionLoader",
    "LoadFailure",
    "Loaded",
    "Loader",
    "discover",
    "load_documents",
    "load_file",
    "loader_for",
    "read_sidecar",
    "register",
]
