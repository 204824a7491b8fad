"""Old module paths: ``artspeed.pruning`` and friends moved into the layers.

``import artspeed.pruning`` still works: it gives the module's new home,
``artspeed.compress.pruning``, with a ``DeprecationWarning`` that names it.
Names that left a module, or were renamed, say where they went in the same way.

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


# (package, old name) -> (the module that holds it now, its name there)
NAMES = {("artspeed.deployment", name): ("artspeed.runtimes.ir", name)
         for name in ("convert_model", "save_ir", "read_ir", "check_ir")}
NAMES.update({("artspeed.deployment", name): ("artspeed.runtimes.openvino", name)
              for name in ("compile_model", "default_inference_precision")})

# old name -> (its module, the new name): a rename, under every path it was public at
RENAMED = {"QuantizationError": ("artspeed.compress.quantization", "ErrorMetrics")}
for _old, (_module, _new) in RENAMED.items():
    for _package in ("artspeed", _module.rpartition(".")[0], _module):
        NAMES[(_package, _old)] = (_module, _new)


def moved_name(package: str, name: str):
    """The value of a name that left ``package``, with a warning that says where it went.

    >>> import warnings, artspeed.deployment
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     read_ir = artspeed.deployment.read_ir
    >>> read_ir.__module__, str(caught[0].message)
    ('artspeed.runtimes.ir', 'artspeed.deployment.read_ir moved to artspeed.runtimes.ir.read_ir')

    A renamed name says its new name:

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old = moved_name("artspeed", "QuantizationError")
    >>> print(old.__name__, caught[0].message)
    ErrorMetrics artspeed.QuantizationError was renamed ErrorMetrics; use artspeed.ErrorMetrics (artspeed.compress.quantization.ErrorMetrics)
    """
    if package == "artspeed" and name in MODULES:   # artspeed.pruning, the old module
        new = f"artspeed.{MODULES[name]}"
        warnings.warn(f"artspeed.{name} moved to {new}", DeprecationWarning, stacklevel=3)
        return importlib.import_module(new)
    where = NAMES.get((package, name))
    if where is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    module, new = where
    if new == name:
        message = f"{package}.{name} moved to {module}.{name}"
    else:
        message = f"{package}.{name} was renamed {new}; use artspeed.{new} ({module}.{new})"
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(module), new)


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


def renamed_property(old: str, new: str) -> property:
    """A property ``old`` that warns and gives ``new``'s value: for a renamed property.

    >>> import warnings
    >>> class Size:
    ...     times_smaller = 4.0
    ...     gzip_ratio = renamed_property("gzip_ratio", "times_smaller")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = Size().gzip_ratio
    >>> value, str(caught[0].message)
    (4.0, 'Size.gzip_ratio was renamed times_smaller; use that')
    """
    def getter(self):
        warnings.warn(f"{type(self).__name__}.{old} was renamed {new}; use that",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(getter, doc=f"Deprecated: the old name of ``{new}``.")


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
