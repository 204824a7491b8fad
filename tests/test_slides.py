"""The lecture deck: slides/build.py builds it from slides/deck.md; check what a reader gets.

The build runs once for the module (in fast mode unless ARTSPEED_FAST says
otherwise), into a temporary folder. Where a headless Chromium is on PATH, the
first and last slides are also rendered to PNG.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLIDES = ROOT / "slides"
OUTPUT_NAME = "the-art-of-speed-part-1.html"

# The outline, in order (a slide may sit between two of these).
OUTLINE = [
    "The art of speed (Part 1)",
    "Motivation",
    "Train once, infer many times",
    "Why optimize inference",
    "The challenges",
    "Background: model complexity",
    "The number of parameters",
    "FLOPs and MACs",
    "VGG16: where the cost is",
    "Read a profiler's table with care",
    "Understanding inference performance",
    "Latency against throughput",
    "The batch-size trade-off",
    "Pareto optimality",
    "Optimization techniques",
    "Weight quantization",
    "The int8 grid over real weights",
    "Pruning: unstructured against structured",
    "Pruning at scale: MobileNetV2 on ImageNet",
    "Knowledge distillation",
    "Generative inference",
    "Iterative generation and the KV cache",
    "Prefill against decode on the roofline",
    "Weight-only compression",
    "Speculative decoding",
    "Serving",
    "A model behind HTTP",
    "The serving tax, and batching under load",
    "Replicas against streams",
    "The hands-on workbook",
    "References",
]
FIGURES = ("vgg16_layers", "batch_sweep", "pareto", "quantization_mapping",
           "quantization_grid", "pruning_masks", "distillation", "generation_costs",
           "lm_roofline", "weight_compression", "serving")


def _load_build_module():
    spec = importlib.util.spec_from_file_location("slides_build", SLIDES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _slides(document: str) -> list[tuple[str, str]]:
    """(title, visible text) of each slide, in order; speaker notes left out."""
    out = []
    for match in re.finditer(r'<section class="slide[^"]*" id="\d+" data-title="([^"]*)">'
                             r"(.*?)</section>", document, re.DOTALL):
        body = re.sub(r'<aside class="notes">.*?</aside>', " ", match.group(2), flags=re.DOTALL)
        text = html.unescape(re.sub(r"<[^>]+>", " ", body))
        out.append((html.unescape(match.group(1)), re.sub(r"\s+", " ", text)))
    return out


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    env = dict(os.environ)
    env.setdefault("ARTSPEED_FAST", "1")
    run = subprocess.run([sys.executable, str(SLIDES / "build.py"), "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, f"slides/build.py failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    document = (out / OUTPUT_NAME).read_text(encoding="utf-8")
    return SimpleNamespace(out=out, path=out / OUTPUT_NAME, html=document,
                           slides=_slides(document),
                           numbers=json.loads((out / "numbers.json").read_text()))


def _slide(deck, title: str) -> str:
    for t, text in deck.slides:
        if t == title:
            return text
    raise AssertionError(f"no slide titled {title!r}; titles: {[t for t, _ in deck.slides]}")


def test_every_slide_of_the_outline_is_present_in_order(deck):
    titles = [t for t, _ in deck.slides]
    positions = [titles.index(t) if t in titles else None for t in OUTLINE]
    missing = [t for t, p in zip(OUTLINE, positions) if p is None]
    assert not missing, f"slides missing from the deck: {missing}"
    assert positions == sorted(positions), f"outline out of order: {titles}"
    assert titles[-1] == "References"
    assert f"1 / {len(titles)}" in deck.html and f"{len(titles)} / {len(titles)}" in deck.html


def test_nothing_is_loaded_from_the_network(deck):
    doc = deck.html
    remote = r"""(?:https?:|ftp:|//)"""
    offenders = re.findall(rf"""\b(?:src|href|srcset|poster|data)\s*=\s*["']?\s*{remote}[^"'\s>]*""",
                           doc, re.IGNORECASE)
    offenders += re.findall(rf"""url\(\s*["']?\s*{remote}[^)]*\)""", doc, re.IGNORECASE)
    offenders += re.findall(r"@import|<link\b|<iframe\b|<script\b[^>]*\bsrc=|\bfetch\(|"
                            r"XMLHttpRequest|\bimport\(", doc, re.IGNORECASE)
    assert not offenders, f"the deck would load these from elsewhere: {offenders[:5]}"
    assert doc.count("<style>") == 1 and doc.count("<script>") == 1   # inline CSS and JS


def test_figures_are_embedded_as_png_data(deck):
    sources = re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', deck.html)
    assert len(sources) >= 5
    assert all(s.startswith("data:image/png;base64,") for s in sources), \
        [s[:60] for s in sources if not s.startswith("data:")]
    for src in sources:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for name in FIGURES:   # each figure script drew its figure into the build folder
        assert (deck.out / "figures" / f"{name}.png").stat().st_size > 10_000, name
    assert len(set(sources)) == len(sources)   # no figure shown twice


def test_every_placeholder_was_filled(deck):
    assert "{{" not in deck.html and "}}" not in deck.html


def test_the_parameter_slide_matches_artspeed():
    """The Dense example's numbers, recomputed here, are the ones the lecture quotes."""
    import artspeed

    p = artspeed.profile(artspeed.dense_example())
    assert (p.total_params, p.trainable_params, p.non_trainable_params) == (387, 249, 138)


def test_parameter_and_flop_slides_show_what_artspeed_computes(deck):
    import tf_keras as keras

    import artspeed

    dense = artspeed.profile(artspeed.dense_example())
    text = _slide(deck, "The number of parameters")
    for value in (dense.total_params, dense.trainable_params, dense.non_trainable_params):
        assert f"{value}" in text
    for layer in dense.layers[1:]:
        assert f"{layer.name} (Dense)" in text and f" {layer.params:,} " in text
    text = _slide(deck, "FLOPs and MACs")
    assert f"{dense.macs} MACs" in text and f"{dense.flops} FLOPs" in text

    vgg = keras.applications.VGG16(weights=None)
    p = artspeed.profile(vgg)
    c = artspeed.compare_model_profiler(vgg, batch_size=128)
    text = _slide(deck, "VGG16: where the cost is")
    assert f"{p.total_params / 1e6:.2f} M parameters" in text
    assert "138.36 M parameters" in text   # the lecture's figures, as the issue quotes them
    assert f"{p.weights_bytes / 2**20:.2f} MiB" in text and "527.79 MiB" in text
    assert f"{p.flops / 1e9:.2f} G FLOPs" in text and f"{p.macs / 1e9:.2f} G MACs" in text
    text = _slide(deck, "Read a profiler's table with care")
    bflops = c.values["No. of FLOPs"][0]
    assert bflops == 0.3093 and f"{bflops} BFLOPs" in text
    assert f"{bflops * 100:.2f} G FLOPs per image" in text
    assert f"{c.values['Model Parameters'][0]} Million" in text
    assert f"{c.values['Memory Required by Model Weights'][0]} MB" in text
    assert f"{c.true_flops / 1e12:.2f} T FLOPs" in text


def test_measured_numbers_on_the_slides_are_the_builds(deck):
    n = deck.numbers
    fast = n["env"]["fast"].startswith("fast mode")
    text = _slide(deck, "Latency against throughput")
    assert f"{n['batch']['keras_b1_p50_ms']:.2f} ms" in text
    assert f"{n['batch']['tflite_b1_p50_ms']:.3f} ms" in text
    assert f"OpenVINO ({n['batch']['openvino_precision']}) {n['batch']['openvino_b1_p50_ms']:.3f} ms" in text
    assert ("untrained" in text) == fast   # the vehicle's weights: the slide says which
    text = _slide(deck, "Pareto optimality")
    assert n["pareto"]["front_names"] in text and n["pareto"]["note"] in text
    assert n["pareto"]["front"] + n["pareto"]["dominated"] == n["pareto"]["variants"]
    if n["pareto"]["best_accuracy"] < 100 / 10 + 5:   # scenes has 10 classes: about chance
        assert "chance" in text                       # a frontier of untrained models is labelled
    text = _slide(deck, "Pruning: unstructured against structured")
    assert f"{n['pruning']['channel_accuracy']:.1%}" in text
    for pattern in ("unstructured", "2_4", "channel"):
        assert n["pruning"][f"{pattern}_sparsity"] == pytest.approx(n["pruning"]["sparsity"])
    q = n["quantization"]
    assert (q["q_min"], q["q_max"], q["levels"]) == (-128, 127, 256)
    assert q["example_error"] <= q["half_step"] * (1 + 1e-9)   # round-to-nearest
    assert f"{q['example_q']}" in _slide(deck, "Weight quantization")
    s = n["serving"]
    text = _slide(deck, "The serving tax, and batching under load")
    for key, spec in (("inproc_p50_ms", ".2f"), ("served_p50_ms", ".2f"), ("tax_ms", ".2f")):
        assert f"{s[key]:{spec}} ms" in text
    assert f"{s['max_qps_off']:.0f} QPS" in text and f"{s['max_qps_on']:.0f} QPS" in text
    assert s["tax_ms"] == pytest.approx(s["served_p50_ms"] - s["inproc_p50_ms"])
    assert 1 <= s["mean_batch_on"] <= s["largest_batch_on"] <= s["max_batch"]
    assert s["bound_ms"] == pytest.approx(s["bound_x"] * s["served_p50_ms"])


def test_the_deck_source_types_no_figures():
    """Numbers come from placeholders; only quoted literature and definitions are typed."""
    source = (SLIDES / "deck.md").read_text(encoding="utf-8")
    source = re.sub(r"<!-- quoted -->.*?<!-- /quoted -->", " ", source, flags=re.DOTALL)
    source = source.split("## References")[0]              # citations: years, arXiv ids
    source = re.sub(r"```.*?```|`[^`\n]*`|\{\{[^}]*\}\}", " ", source, flags=re.DOTALL)
    source = re.sub(r"\b(?:19|20)\d\d\b", " ", source)      # years in credits
    # definitions, not results: Part 1, T = 1, 1 - alpha, 2 x MACs, 2:4, 0.0, 10^9
    allowed = {"1", "2", "4", "0.0", "10"}
    typed = [m for m in re.findall(r"(?<![\w.\-:])\d[\d,.]*(?![\w\-])", source)
             if m.rstrip(".,") not in allowed]
    assert not typed, f"numbers typed into slides/deck.md (use a {{{{placeholder}}}}): {typed}"


def test_every_notebook_is_on_the_hands_on_slide():
    source = (SLIDES / "deck.md").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"`{notebook.stem}`" in source, f"{notebook.name} is missing from the deck"


def test_the_build_stops_on_an_unknown_number_or_a_remote_image(tmp_path):
    build = _load_build_module()
    numbers = {"dense": {"total_params": 387}, "vgg16": {"params_m": 138.357544}}
    assert build.fill("{{dense.total_params}} and {{ vgg16.params_m:.2f }}", numbers, "t") \
        == "387 and 138.36"
    with pytest.raises(build.BuildError, match="no number called 'dense.flops'"):
        build.fill("{{dense.flops}}", numbers, "slide 3")
    with pytest.raises(build.BuildError, match="not a local file"):
        build.render_slide("# A\n\n![x](https://example.org/x.png)", 1, tmp_path)
    with pytest.raises(build.BuildError, match="not found"):
        build.render_slide("# A\n\n![x](figures/none.png)", 1, tmp_path)
    assert build.split_slides("# A\n---\n# B\n\n---\n") == ["# A", "# B"]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on PATH "
                    "(CI: apt-get install -y chromium)")
def test_first_and_last_slides_render_in_headless_chromium(deck, tmp_path):
    import matplotlib.image

    last = len(deck.slides)
    for number in (1, last):
        png = tmp_path / f"slide-{number}.png"
        run = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
             f"--screenshot={png}", "--window-size=1280,720",
             f"{deck.path.as_uri()}#{number}"],
            capture_output=True, text=True, timeout=120)
        assert png.is_file(), f"chromium wrote no screenshot:\n{run.stderr[-2000:]}"
        pixels = matplotlib.image.imread(png)[..., :3]
        assert pixels.shape[:2] == (720, 1280)
        assert pixels.std() > 0.05, f"slide {number} renders blank"
        # more than a background: text covers a visible share of the slide
        background = pixels.reshape(-1, 3).mean(axis=0)
        assert (abs(pixels - background).sum(axis=-1) > 0.3).mean() > 0.01
