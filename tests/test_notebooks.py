"""House rules for the committed notebooks (nbval executes them separately)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", path.name), "name it NN-title.ipynb"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"code cells {dirty} carry outputs or execution counts; clear them"
    assert notebook["metadata"].get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_artspeed_first_and_reads_fast_mode(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    everything = "\n".join(sources)
    first_tf = min((i for i, s in enumerate(sources) if re.search(r"import (tensorflow|tf_keras|keras)", s)),
                   default=len(sources))
    first_artspeed = min((i for i, s in enumerate(sources) if "import artspeed" in s),
                         default=len(sources))
    assert first_artspeed <= first_tf, "import artspeed before TensorFlow"
    assert "artspeed.fast_mode()" in everything, "read the fast-mode switch in a parameters cell"
    assert "import *" not in everything, "no star imports"
    assert re.search(r"^\s*assert ", everything, re.M), "check a real value with an assert cell"
