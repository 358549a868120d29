import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import judgeutil  # noqa: E402


@pytest.fixture(autouse=True, scope='module')
def _collect_orphans():
    """While the sandbox tests run, orphans of the judge are re-parented to this process."""
    judgeutil.set_subreaper(True)
    yield
    judgeutil.set_subreaper(False)
