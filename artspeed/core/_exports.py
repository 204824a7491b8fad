"""How a package lists its public names: each module's ``__all__``, gathered once.

>>> import types
>>> one = types.ModuleType("one"); one.__all__ = ["x"]; one.x = 1
>>> namespace = {"__name__": "demo"}
>>> export(namespace, one), namespace["x"]
(['x'], 1)
"""

from __future__ import annotations

from artspeed.core._moved import moved_name

__all__ = ["export"]


def export(namespace: dict, *modules) -> list[str]:
    """Put each module's public names (its ``__all__``) in a package's ``namespace``.

    Returns the names, for the package's ``__all__``; two modules claiming one
    name is an error. A name a module defines on first use (``Distiller``
    subclasses tf_keras.Model, so it waits for TensorFlow) is fetched when it
    is first asked for, through the package's ``__getattr__``.
    """
    names: list[str] = []
    lazy: dict = {}
    for module in modules:
        for name in module.__all__:
            if name in names:
                raise ImportError(f"{name} is public in two of {namespace['__name__']}'s modules")
            names.append(name)
            if name in vars(module):
                namespace[name] = vars(module)[name]
            else:
                lazy[name] = module

    def __getattr__(name: str):
        module = lazy.get(name)
        if module is None:   # a name that moved says where to; any other is an AttributeError
            return moved_name(namespace["__name__"], name)
        value = namespace[name] = getattr(module, name)
        return value

    namespace["__getattr__"] = __getattr__
    return names
