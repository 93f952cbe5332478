"""Fixtures shared by the test files."""

from pathlib import Path

import pytest

#: ``<repo>/../shared/datasets``: CI runs a clean clone with ``../shared`` beside it.
SHARED_DATASETS_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets_dir():
    """Path of the shared real datasets, ``<repo>/../shared/datasets``.

    Tests that use this fixture are skipped, with the reason, when the folder is absent.
    """
    if not SHARED_DATASETS_DIR.is_dir():
        pytest.skip(
            f"the shared datasets folder {SHARED_DATASETS_DIR} is missing: these tests need "
            "../shared/datasets beside the repository checkout"
        )
    return SHARED_DATASETS_DIR


@pytest.fixture(scope="session")
def shared_paper_results():
    """Path of the papers' result tables, ``<repo>/../shared/paper_results``; skip if absent."""
    path = SHARED_DATASETS_DIR.parent / "paper_results"
    if not path.is_dir():
        pytest.skip(f"the papers' result tables folder {path} is missing")
    return path
