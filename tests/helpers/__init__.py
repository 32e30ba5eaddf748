"""Test helpers that build tiny artefacts (models, servers) locally, without downloads."""
