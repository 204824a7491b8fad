"""What the benchmark scripts share: the dataset, an output folder, the trained baseline."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def trained_baseline(args, prefix: str):
    """(artspeed, dataset, folder, model, accuracy): the baseline trained ``args.epochs`` epochs.

    Prints the environment, the dataset and the training time, as every script reports them.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import artspeed

    print(artspeed.environment())
    ds = artspeed.load_dataset(args.dataset)
    print(f"dataset: {ds.name}, {len(ds.x_train)} train / {len(ds.x_test)} test, "
          f"from {ds.source}")
    folder = Path(args.out or tempfile.mkdtemp(prefix=prefix))
    model = artspeed.baseline_cnn(ds.input_shape, ds.num_classes)
    start = time.perf_counter()
    artspeed.train(model, ds, epochs=args.epochs, progress=False)
    accuracy = artspeed.accuracy(model, ds)
    print(f"baseline trained: {args.epochs} epochs in {time.perf_counter() - start:.0f} s, "
          f"{model.count_params():,} parameters, accuracy {accuracy:.2%}")
    return artspeed, ds, folder, model, accuracy
