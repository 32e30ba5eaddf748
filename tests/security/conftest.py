"""The server tests' fixtures (tests/helpers/serve_fixtures.py)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers.serve_fixtures import base_kb, keys, served, server  # noqa: E402, F401
