"""Old module paths: ``artspeed.pruning`` and friends moved into the layers.

``import artspeed.pruning`` still works: it gives the module's new home,
``artspeed.compress.pruning``, with a ``DeprecationWarning`` that names it.
Names that left a module say where they went in the same way.

>>> import importlib, sys, warnings
>>> _ = sys.modules.pop("artspeed.pruning", None)
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     module = importlib.import_module("artspeed.pruning")
>>> module.__name__
'artspeed.compress.pruning'
>>> print(caught[0].message)
artspeed.pruning moved to artspeed.compress.pruning; import that (or use artspeed.NAME)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__: list[str] = []

# old module (under artspeed) -> its new home
MODULES = {
    "config": "core.config", "errors": "core.errors", "env": "core.env", "data": "core.data",
    "shapes": "core.shapes", "models": "core.models", "training": "core.training",
    "saving": "core.saving", "plots": "core.plots",
    "predictors": "runtimes", "tflite_predictor": "runtimes.tflite",
    "openvino_predictor": "runtimes.openvino",
    "evaluation": "measure.evaluation", "profiler": "measure.profiler",
    "tf_flops": "measure.tf_flops", "model_profiler_compat": "measure.model_profiler_compat",
    "roofline": "measure.roofline", "benchmarking": "measure.benchmarking",
    "scenarios": "measure.scenarios", "pareto": "measure.pareto",
    "benchmark_tool": "measure.benchmark_tool",
    "quantization": "compress.quantization", "formats": "compress.formats",
    "number_formats": "compress.formats", "ptq": "compress.ptq", "qat": "compress.qat",
    "pruning": "compress.pruning", "channels": "compress.channels",
    "channel_pruning": "compress.channels", "clustering": "compress.clustering",
    "distillation": "compress.distillation", "variants": "measure.variants",
    "validation": "deployment.validation", "openvino_int8": "deployment.openvino_int8",
    "runtime_graphs": "deployment.runtime_graphs", "report": "tour.report",
    "tour_variants": "tour.variants",
}


# (package, old name) -> the module that holds it now
NAMES = {("artspeed.deployment", name): "artspeed.runtimes.ir"
         for name in ("convert_model", "save_ir", "read_ir", "check_ir")}
NAMES.update({("artspeed.deployment", name): "artspeed.runtimes.openvino"
              for name in ("compile_model", "default_inference_precision")})


def moved_name(package: str, name: str):
    """The value of a name that left ``package``, with a warning that says where it went.

    >>> import warnings, artspeed.deployment
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     read_ir = artspeed.deployment.read_ir
    >>> read_ir.__module__, str(caught[0].message)
    ('artspeed.runtimes.ir', 'artspeed.deployment.read_ir moved to artspeed.runtimes.ir.read_ir')
    """
    if package == "artspeed" and name in MODULES:   # artspeed.pruning, the old module
        new = f"artspeed.{MODULES[name]}"
        warnings.warn(f"artspeed.{name} moved to {new}", DeprecationWarning, stacklevel=3)
        return importlib.import_module(new)
    new = NAMES.get((package, name))
    if new is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    warnings.warn(f"{package}.{name} moved to {new}.{name}", DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(new), name)


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, old = fullname.partition(".")
        if prefix != "artspeed" or old not in MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = "artspeed." + MODULES[spec.name.partition(".")[2]]
        warnings.warn(f"{spec.name} moved to {new}; import that (or use artspeed.NAME)",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


def install() -> None:
    """Let the old module paths resolve to the new ones (once per process)."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(_OldPaths())


# Old words passed as values (a tour variant's name, say): what -> {old: new}
WORDS = {"tour variant": {"openvino-fp32": "openvino-f32"}}


def renamed_word(what: str, word):
    """``word``, or the word that replaced it, with a warning that names the new one.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     new = renamed_word("tour variant", "openvino-fp32")
    >>> new, str(caught[0].message)
    ('openvino-f32', "the tour variant 'openvino-fp32' is now called 'openvino-f32'")
    >>> renamed_word("tour variant", "tflite-int8")
    'tflite-int8'
    """
    new = WORDS.get(what, {}).get(word)
    if new is None:
        return word
    warnings.warn(f"the {what} {word!r} is now called {new!r}", DeprecationWarning, stacklevel=3)
    return new
