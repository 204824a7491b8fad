"""artspeed: the art of speed, a workbook on deep-learning inference optimization.

Importing artspeed first selects Keras 2 (tf_keras) for TensorFlow; it does not
import TensorFlow, OpenVINO or NNCF, which load on first use
(``artspeed.core.frameworks``), so ``import artspeed`` stays fast.

The package is layered; each layer imports only from the layers before it:
core, runtimes, measure, compress, deployment, then tour and generative
(independent siblings), cli. Every public name is
listed once, in its module's ``__all__``, and is available here.

>>> import artspeed
>>> artspeed.load_dataset.__module__
'artspeed.core.data'
"""

from __future__ import annotations

from artspeed import compress, core, deployment, generative, measure, runtimes, tour
from artspeed.core import _moved
from artspeed.core._exports import export

__version__ = "0.1.0"

__all__ = ["__version__", *export(globals(), core, runtimes, measure, compress, deployment, tour,
                                     generative)]

_moved.install()
