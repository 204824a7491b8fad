"""The tour's report: one self-contained HTML file, its plots embedded.

Taught in notebooks/10-capstone. Everything in it comes from the
``TourResult`` it is given: the table of variants, the two Pareto plots
(the task's score against latency and against size), batch-size curves for the best
variants, the environment, and what to pick for latency, throughput and size.
Nothing is fetched at view time: images are PNG data URIs, the style is inline.

>>> "data:image/png;base64," in figure_data_uri(_example_figure())
True
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from artspeed.core._io import write_text_atomic
from artspeed.core._result import html_table
from artspeed.core.env import Environment
from artspeed.measure.pareto import plot_pareto
from artspeed.tour.results import WITHIN_POINTS, latency_noise

__all__ = ["write_report", "report_html", "figure_data_uri", "plot_tour_pareto",
           "plot_batch_curves"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left} caption{text-align:left;padding:.3em 0}
.met{color:#0a7a2f;font-weight:600} .missed{color:#b3261e;font-weight:600}
.picks{background:#f4f7fb;border-left:4px solid #3b6fb6;padding:.6em 1em}
img{max-width:100%} .muted{color:#666;font-size:.9em}
"""


def figure_data_uri(fig, dpi: int = 110) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _example_figure():
    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    return fig


def _points(result, x: str):
    scale = 100 if result.measure.fraction else 1
    return [{"name": v.name, result.measure.key: scale * v.score,
             x: v.p50_ms if x == "latency_ms" else v.gzip_bytes / 1024} for v in result.variants]


def plot_tour_pareto(result, x: str = "latency_ms", ax=None):
    """The task's score (accuracy or mean IoU in %, or MAE) against batch-1 p50 latency
    (``latency_ms``) or gzipped size (``gzip_kb``)."""
    metric = result.measure
    name = metric.name[0].upper() + metric.name[1:]
    title = (f"{name} against batch-1 latency" if x == "latency_ms"
             else f"{name} against gzipped size")
    noise = latency_noise(result.variants) if x == "latency_ms" else 0.0
    way = "max" if metric.higher_is_better else "min"
    ax = plot_pareto(_points(result, x), x=x, y=(metric.key, way), ax=ax, title=title,
                     xscale="log", relative_ties={x: noise} if noise else None)
    ax.set_xlabel("p50 latency at batch 1, ms (log scale; lower is better)" if x == "latency_ms"
                  else "gzipped size, KB (log scale; lower is better)")
    ax.set_ylabel(f"test {metric.axis_label()}")
    return ax


def plot_batch_curves(result, ax=None):
    """Latency against throughput over batch size, for the variants the tour swept."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, curve in result.batch_curves.items():
        ax.plot(curve["throughput_per_s"], curve["p50_ms"], "o-", label=name)
        for b, t, p in zip(curve["batch_sizes"], curve["throughput_per_s"], curve["p50_ms"]):
            ax.annotate(f"b{b}", (t, p), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="throughput (inferences/s)", ylabel="p50 latency per batch (ms)",
           title="The batch-size trade-off", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def _figure(draw, **kwargs) -> str:
    fig = Figure(figsize=(6.5, 4.5))
    draw(ax=fig.subplots(), **kwargs)
    return figure_data_uri(fig)


def _mark(ok: bool) -> str:
    return '<span class="met">met</span>' if ok else '<span class="missed">not met</span>'


def _picks_paragraph(result) -> str:
    base = result.baseline
    lat, thr, size = (result[result.picks[k]] for k in ("latency", "throughput", "size"))
    text = (f"<p><b>For latency</b> (one request at a time), pick <b>{lat.name}</b>: "
            f"p50 {lat.p50_ms:.3f} ms and p99 {lat.latency_ms['p99']:.3f} ms at batch 1, "
            f"{base.p50_ms / lat.p50_ms:.1f}&times; faster than Keras through "
            f"<code>tf.function</code>{_against_tflite(result, lat)}, "
            f"at {result.measure.format(lat.score)} {result.measure.name}.</p>")
    how, best = result.best_throughput(thr.name)
    if how == "batch 1":
        text += (f"<p><b>For throughput</b> (many requests), pick <b>{thr.name}</b>: "
                 f"{best:,.0f} inferences/s at batch 1.</p>")
    else:
        text += (f"<p><b>For throughput</b> (many requests), pick <b>{thr.name}</b>, run with "
                 f"{how}: {best:,.0f} inferences/s, against {thr.throughput_per_s:,.0f} at "
                 f"batch 1.</p>")
    tried = [name for name in dict.fromkeys([*result.batch_curves, *result.async_runs])
             if name != thr.name]
    if tried:
        text += ("<p class='muted'>Also tried for throughput: " + "; ".join(
            f"{name} {result.best_throughput(name)[1]:,.0f}/s ({result.best_throughput(name)[0]})"
            for name in tried) + "." + (
            f" More than {thr.name}, but within this run's noise ({latency_noise(result.variants):.0%}"
            " between rounds), so the latency pick serves both."
            if any(result.best_throughput(name)[1] > best for name in tried) else "") + "</p>")
    text += (f"<p><b>For size</b> (download, storage), pick <b>{size.name}</b>: "
             f"{size.gzip_bytes / 1024:,.1f} KB gzipped, {base.gzip_bytes / size.gzip_bytes:.1f}"
             f"&times; smaller than the baseline's {base.gzip_bytes / 1024:,.1f} KB.</p>"
             f"<p class='muted'>Only variants within {_within_words(result)} of the "
             f"baseline's {result.measure.name} ({result.measure.format(base.score)}) are "
             "considered.</p>")
    return f'<div class="picks">{text}</div>'


def _within_words(result) -> str:
    """"1 point" (accuracy, mean IoU) or "1%" (of an MAE): how close a pick must score."""
    points = f"{WITHIN_POINTS:g}"
    return (f"{points} point{'s' * (WITHIN_POINTS != 1)}" if result.measure.fraction
            else f"{points}%")


def _against_tflite(result, pick) -> str:
    names = result.names
    if "tflite-float32" not in names or pick.name == "tflite-float32":
        return ""
    return (f" and {result['tflite-float32'].p50_ms / pick.p50_ms:.1f}&times; faster than "
            "TFLite float32")


def _targets(result) -> str:
    t = result.targets
    rows = []
    if "fastest_within_1pt_speedup_vs_function" in t:   # results.json of this version
        rows.append(("fastest variant within 1 point, speed-up over Keras tf.function at "
                     "batch 1", f"{t['fastest_within_1pt_speedup_vs_function']:.1f}&times;",
                     "at least 8&times;", _mark(t["fastest_within_1pt_speedup_vs_function"] >= 8)))
    if "fastest_within_1pt_speedup_vs_tflite_float32" in t:
        value = t["fastest_within_1pt_speedup_vs_tflite_float32"]
        rows.append(("fastest variant within 1 point, speed-up over TFLite float32 at batch 1",
                     f"{value:.1f}&times;", "at least 2.5&times;", _mark(value >= 2.5)))
    if "fastest_within_1pt_speedup_vs_predict" in t:
        value = t["fastest_within_1pt_speedup_vs_predict"]
        rows.append(("for reference: the same against Keras model.predict",
                     f"{value:.1f}&times;", "", ""))
    rows.append(("smallest variant within 1 point, gzipped, against the baseline",
                 f"{t['smallest_within_1pt_gzip_times_smaller']:.1f}&times; smaller",
                 "at least 10&times;", _mark(t["smallest_within_1pt_gzip_times_smaller"] >= 10)))
    if result.settings.quick:
        rows.append((f"the quick tour's wall-clock time{result.time_note}",
                     f"{result.seconds / 60:.1f} min",
                     "under 10 min", _mark(result.seconds < 600)))
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>"
                   for a, b, c, d in rows)
    return ("<table><tr><th>target</th><th>measured</th><th>goal</th><th></th></tr>"
            f"{body}</table>")


def _costs(result) -> str:
    """Energy and cost per inference, with where the energy figure comes from."""
    if not result.costs:
        return ""
    rows = [(name, f"{c['cpu_s_per_inference'] * 1e3:.3f}",
             f"{c['joules_per_inference'] * 1e3:.2f}",
             f"{c['cost_per_million']:.4f} {c['currency']}")
            for name, c in result.costs.items()]
    first = next(iter(result.costs.values()))
    if first["source"] == "rapl":
        how = "Energy measured by the CPU's RAPL counters (the whole package)."
    else:
        how = (f"Energy <b>estimated</b>: CPU-seconds &times; {first['watts_per_core']:g} W per "
               f"busy core ({html.escape(first.get('rapl_unavailable') or '')}).")
    return ("<h2>Energy and cost per inference</h2>" + html_table(
        rows, header=("variant", "CPU ms per inference", "mJ per inference",
                      "cost per million")) +
            f"<p class='muted'>{how} Cost: the CPU-seconds at {first['price_per_core_hour']:g} "
            f"{first['currency']} per core-hour, a lower bound (idle cores you rent cost "
            "too). Batch 1, one request at a time.</p>")


def report_html(result) -> str:
    """The report as one HTML string (see ``write_report``)."""
    env = Environment.from_dict(result.env)
    s = result.settings
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    prof = result.profile
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>artspeed tour: {html.escape(result.model)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>The art of speed: {html.escape(result.model)} on {html.escape(result.dataset)}</h1>",
        f"<p class='muted'>Measured {when} on {html.escape(env.cpu_model)} "
        f"({env.available_cores} cores), {'quick' if s.quick else 'full'} tour in "
        f"{result.seconds / 60:.1f} min. Latency at batch 1: median over {s.rounds} interleaved "
        f"rounds of {s.duration_s:g} s per variant; every figure below is from this run.</p>",
        "<h2>What to pick</h2>", _picks_paragraph(result),
        "<h2>Targets</h2>", _targets(result),
        "<h2>The variants</h2>", result._repr_html_(),
        "<p class='muted'>" + "<br>".join(f"<b>{html.escape(v.name)}</b>: "
                                          f"{html.escape(v.description)}"
                                          for v in result.variants) + "</p>",
        *([("<p><b>Skipped for this model (not built, not measured, or no batch curve):</b><br>" + "<br>".join(
            f"{html.escape(k)}: {html.escape(v)}" for k, v in result.skipped.items()) + "</p>")]
          if result.skipped else []),
        _costs(result),
        "<h2>Pareto frontiers</h2>",
        f"<p>A variant is on the frontier when no other both scores at least as well by "
        f"{result.measure.name} and is faster (or smaller). Grey points are dominated.</p>",
        f"<img alt='{result.measure.name} against latency' src='{_figure(plot_tour_pareto, result=result, x='latency_ms')}'>",
        f"<img alt='{result.measure.name} against size' src='{_figure(plot_tour_pareto, result=result, x='gzip_kb')}'>",
    ]
    if result.batch_curves:
        parts += ["<h2>Batch size: latency against throughput</h2>",
                  "<p>Bigger batches raise throughput, and every request in a batch waits "
                  "for the whole batch.</p>",
                  f"<img alt='batch-size curves' src='{_figure(plot_batch_curves, result=result)}'>"]
    parts += [
        "<h2>The baseline</h2>",
        html_table([("parameters", f"{prof['total_params']:,}"),
                    ("MACs per image", f"{prof['macs']:,}"),
                    ("FLOPs per image", f"{prof['flops']:,}"),
                    ("weights (bytes)", f"{prof['weights_bytes']:,}")]),
        "<h2>Environment</h2>", env._repr_html_(),
        "<p class='muted'>Made by artspeed: <code>artspeed tour</code>. The same figures are in "
        "results.json beside this file.</p></body></html>",
    ]
    return "\n".join(parts)


def write_report(result, path) -> Path:
    """Write ``result``'s self-contained HTML report to ``path`` (atomically)."""
    return write_text_atomic(Path(path), report_html(result))
