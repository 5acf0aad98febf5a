"""Fixtures shared by the campaign CLI tests."""

from __future__ import annotations

import pytest

from tests.tiny_checkpoint import write_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random-weight checkpoint (< 1k parameters) with a 20 Å^3/atom volume prior.

    Modules that need another model (``test_runner``, ``test_model_info``) define
    their own ``checkpoint`` fixture, which takes precedence over this one.
    """
    return write_tiny_checkpoint(tmp_path_factory.mktemp("model"))
