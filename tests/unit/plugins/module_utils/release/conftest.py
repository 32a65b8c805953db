"""The `app` fixture: one app on a FakeHost, its store on a temporary directory."""
import pytest

from release_fakes import Harness


@pytest.fixture
def app(tmp_path):
    return Harness(tmp_path)
