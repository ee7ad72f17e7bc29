"""Each recipe below is its own project, with its own ``pytest.ini`` and ``conftest.py``: run it
from its folder (``cd examples/recipes/flask && pytest``), as ``tests/test_recipes.py`` does.

A run of the whole ``examples`` folder (``make demo``) must not collect them under the demo's
settings, so this file keeps them out of it."""

collect_ignore_glob = ["*"]
