"""artspeed's lazy exports: a function never shadowed by a module of the same name."""

import pytest
from conftest import run_python


@pytest.mark.parametrize("first, name", [("number_format", "number_formats"),
                                         ("filter_norms", "channel_pruning")])
def test_a_sibling_export_does_not_shadow_the_function(first, name):
    # importing the submodule (through a sibling name) used to rebind artspeed.<module>
    code = (f"import artspeed\nartspeed.{first}\nimport inspect\n"
            f"assert callable(artspeed.{name}) and inspect.isfunction(artspeed.{name}), "
            f"artspeed.{name}\nprint('ok')")
    run = run_python(code)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_no_export_shares_a_module_name():
    import artspeed

    clashes = set(artspeed._EXPORTS) & set(artspeed._WHERE)
    assert not clashes, f"rename the module(s) {sorted(clashes)}: they shadow the exports"


def test_every_top_level_name_is_in_its_modules_all():
    # The module's __all__ lists its public names; the top level may not export others.
    import importlib

    import artspeed

    for module, names in artspeed._EXPORTS.items():
        declared = importlib.import_module(f"artspeed.{module}").__all__
        assert not set(names) - set(declared), (module, sorted(set(names) - set(declared)))
