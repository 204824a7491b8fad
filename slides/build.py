"""Build the lecture deck: run the figure scripts, fill the numbers, write one HTML file.

    python slides/build.py [--out DIR]        # default: slides/build

1. Each ``slides/figures/fig_*.py`` draws its figures into ``DIR/figures/`` and
   returns the numbers the slides quote; they are merged and written to
   ``DIR/numbers.json``.
2. ``slides/deck.md`` is split into slides on lines that are exactly ``---``.
   ``{{key}}`` or ``{{key:format}}`` placeholders (``{{vgg16.params_m:.2f}}``)
   are filled from the numbers; an unknown key stops the build.
3. Each slide is rendered with Python-Markdown; images are embedded as base64
   data URIs; CSS and a small keyboard-navigation script are inlined. The
   result, ``DIR/the-art-of-speed-part-1.html``, loads nothing from anywhere.

In a slide, ``<!-- class: NAME -->`` on the first line sets a CSS class
(``title``, ``section``), a line ``<!-- column -->`` splits the slide into two
columns, and everything after a line ``Note:`` is speaker notes (hidden; the
``n`` key shows them). ``ARTSPEED_FAST=1`` shortens training and timing.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import importlib
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DECK = HERE / "deck.md"
FIGURES = HERE / "figures"
OUTPUT_NAME = "the-art-of-speed-part-1.html"
# the figure scripts, in the order they run (later ones reuse the trained models)
FIGURE_SCRIPTS = ("fig_complexity", "fig_quantization", "fig_pruning", "fig_distillation",
                  "fig_batch", "fig_pareto", "fig_generative", "fig_serving")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*(?::([^}]*))?\}\}")
SLIDE_BREAK = re.compile(r"^---[ \t]*$", re.MULTILINE)
MARKDOWN_EXTENSIONS = ("tables", "fenced_code", "sane_lists", "attr_list", "md_in_html")


class BuildError(Exception):
    """The deck cannot be built as written; the message says what to fix."""


def measure(out_dir: Path) -> dict:
    """Run every figure script; return the merged numbers (and write numbers.json)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(FIGURES))
    import artspeed

    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    numbers: dict = {}
    for name in FIGURE_SCRIPTS:
        start = time.perf_counter()
        module = importlib.import_module(name)
        numbers.update(module.make(figures_dir))
        print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)
    env = artspeed.environment()
    numbers["env"] = {
        "cpu_model": env.cpu_model, "cores": env.available_cores,
        "isa": ", ".join(env.isa) or "no ISA flags read", "python": env.python,
        "tensorflow": env.versions.get("tensorflow", "?"), "artspeed": artspeed.__version__,
        "date": datetime.date.today().isoformat(),
        "fast": "fast mode (ARTSPEED_FAST=1)" if artspeed.fast_mode() else "full mode",
    }
    (out_dir / "numbers.json").write_text(json.dumps(numbers, indent=2, sort_keys=True))
    return numbers


def lookup(numbers: dict, key: str):
    value = numbers
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


def fill(text: str, numbers: dict, where: str) -> str:
    """Replace each ``{{key}}`` / ``{{key:format}}`` with its value from ``numbers``."""
    def replace(match):
        key, spec = match.group(1), (match.group(2) or "").strip()
        try:
            value = lookup(numbers, key)
        except KeyError:
            raise BuildError(f"{where}: no number called {key!r}; the figure scripts "
                             f"provide: {', '.join(sorted(_keys(numbers)))}") from None
        try:
            return format(value, spec)
        except (ValueError, TypeError) as exc:
            raise BuildError(f"{where}: cannot format {key}={value!r} with {spec!r}: "
                             f"{exc}") from None
    return PLACEHOLDER.sub(replace, text)


def _keys(numbers: dict, prefix: str = ""):
    for key, value in numbers.items():
        if isinstance(value, dict):
            yield from _keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def split_slides(source: str) -> list[str]:
    """The slides of ``source``: blocks between lines that are exactly ``---``."""
    return [s.strip("\n") for s in SLIDE_BREAK.split(source) if s.strip()]


def _embed_images(fragment: str, base: Path, where: str) -> str:
    def replace(match):
        src = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE):
            raise BuildError(f"{where}: image {src!r} is not a local file; the deck "
                             "must render offline, so images come from the figure scripts")
        path = (base / src).resolve()
        if not path.is_file():
            raise BuildError(f"{where}: image {src!r} not found at {path}; does a figure "
                             "script draw it?")
        kind = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg+xml"}.get(
            path.suffix.lower())
        if kind is None:
            raise BuildError(f"{where}: cannot embed {path.name}; use PNG, JPEG or SVG")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{match.group(1)}"data:image/{kind};base64,{data}"'
    return re.sub(r'(<img\b[^>]*?\bsrc=)"([^"]+)"', replace, fragment)


def render_slide(text: str, number: int, base: Path) -> tuple[str, str]:
    """(title, HTML section) for one slide's Markdown."""
    import markdown

    where = f"slide {number}"
    classes = ["slide"]
    first, _, rest = text.partition("\n")
    match = re.match(r"^<!--\s*class:\s*([\w -]+?)\s*-->$", first.strip())
    if match:
        classes += match.group(1).split()
        text = rest
    body, notes = text, ""
    parts = re.split(r"^Note:[ \t]*$", text, maxsplit=1, flags=re.MULTILINE)
    if len(parts) == 2:
        body, notes = parts
    title_match = re.search(r"^#{1,2} (.+)$", body, re.MULTILINE)
    if title_match is None:
        raise BuildError(f"{where} has no title (a '# ' or '## ' heading)")
    title = title_match.group(1).strip()

    def md(s: str) -> str:
        return markdown.markdown(s, extensions=list(MARKDOWN_EXTENSIONS))

    columns = re.split(r"^<!--\s*column\s*-->$", body, flags=re.MULTILINE)
    if len(columns) == 1:
        inner = md(body)
    else:
        head, *cols = columns
        inner = md(head) + '<div class="columns">' + "".join(
            f'<div class="column">{md(c)}</div>' for c in cols) + "</div>"
    if notes.strip():
        inner += f'<aside class="notes">{md(notes)}</aside>'
    inner = _embed_images(inner, base, where)
    section = (f'<section class="{" ".join(classes)}" id="{number}" '
               f'data-title="{html.escape(title, quote=True)}">\n{inner}\n'
               f'<footer><span>{{{{footer}}}}</span><span>{number} / {{{{total}}}}</span>'
               f"</footer>\n</section>")
    return title, section


CSS = """
:root { --fg: #1d2430; --muted: #5b6472; --accent: #0b6bcb; --bg: #ffffff; --rule: #d8dee6; }
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: #2b2f36; }
body { font-family: "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif;
       color: var(--fg); overflow: hidden; }
.slide { position: absolute; left: 50%; top: 50%; width: 1280px; height: 720px;
         margin: -360px 0 0 -640px; padding: 44px 64px 56px; background: var(--bg);
         display: none; flex-direction: column; overflow: hidden;
         transform: scale(var(--scale, 1)); font-size: 25px; line-height: 1.38; }
.slide.current { display: flex; }
.no-js .slide { display: flex; position: relative; left: 0; top: 0; margin: 0 auto 24px; }
.no-js body, body.no-js { overflow: auto; }
h1 { font-size: 42px; margin: 0 0 18px; color: var(--accent); line-height: 1.15; }
h2 { font-size: 36px; margin: 0 0 16px; color: var(--accent); line-height: 1.15; }
h3 { font-size: 27px; margin: 8px 0 6px; }
p { margin: 0 0 12px; }
ul, ol { margin: 0 0 12px; padding-left: 1.2em; }
li { margin: 3px 0; }
strong { color: #102a4c; }
code { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 0.88em;
       background: #eef2f7; padding: 1px 5px; border-radius: 4px; }
pre { background: #eef2f7; padding: 10px 14px; border-radius: 6px; margin: 0 0 12px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; font-size: 0.8em; margin: 4px 0 12px; }
th, td { border-bottom: 1px solid var(--rule); padding: 4px 12px; text-align: left; }
th { border-bottom: 2px solid var(--fg); }
img { max-width: 100%; max-height: 430px; display: block; margin: 6px auto; object-fit: contain; }
.columns { display: flex; gap: 36px; align-items: flex-start; flex: 1; min-height: 0; }
.column { flex: 1; min-width: 0; }
.column img { max-height: 520px; }
.small { font-size: 0.8em; }
.small table { font-size: 1em; }
.muted, .credit { color: var(--muted); font-size: 0.72em; }
.formula { font-size: 1.25em; text-align: center; margin: 10px 0 16px; }
.takeaway { border-left: 6px solid var(--accent); background: #f1f6fc; padding: 8px 16px;
            margin-top: auto; }
footer { position: absolute; left: 64px; right: 64px; bottom: 16px; display: flex;
         justify-content: space-between; color: var(--muted); font-size: 14px; }
.notes { display: none; }
body.show-notes .slide.current .notes { display: block; position: absolute; left: 0;
         right: 0; bottom: 0; max-height: 45%; overflow: auto; background: #fff8d6;
         border-top: 2px solid #e0c050; padding: 8px 64px; font-size: 18px; }
.title { justify-content: center; background: linear-gradient(135deg, #0b3d73, #0b6bcb);
         color: #fff; }
.title h1 { color: #fff; font-size: 56px; }
.title h2, .title strong, .title p { color: #e6f0fb; }
.title footer { color: #cfe0f3; }
.section { justify-content: center; }
.section h1 { font-size: 54px; }
@page { size: 1280px 720px; margin: 0; }
@media print {
  html, body { background: #fff; height: auto; overflow: visible; }
  .slide, .slide.current { display: flex; position: relative; left: 0; top: 0; margin: 0;
           transform: none; page-break-after: always; break-after: page; }
  .notes, body.show-notes .slide.current .notes { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

JS = """
(function () {
  document.body.classList.remove('no-js');
  var slides = Array.prototype.slice.call(document.querySelectorAll('.slide'));
  var current = 0;
  function fit() {
    var s = Math.min(window.innerWidth / 1280, window.innerHeight / 720);
    document.documentElement.style.setProperty('--scale', s);
  }
  function show(i, push) {
    current = Math.max(0, Math.min(slides.length - 1, i));
    slides.forEach(function (el, k) { el.classList.toggle('current', k === current); });
    document.title = slides[current].getAttribute('data-title');
    if (push && location.hash !== '#' + (current + 1)) {
      history.replaceState(null, '', '#' + (current + 1));
    }
  }
  function fromHash() {
    var n = parseInt(location.hash.slice(1), 10);
    show(isNaN(n) ? 0 : n - 1, false);
  }
  document.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var k = e.key;
    if (k === 'ArrowRight' || k === 'ArrowDown' || k === 'PageDown' || k === ' ' || k === 'Enter') {
      show(current + (e.shiftKey && k === ' ' ? -1 : 1), true);
    } else if (k === 'ArrowLeft' || k === 'ArrowUp' || k === 'PageUp' || k === 'Backspace') {
      show(current - 1, true);
    } else if (k === 'Home') { show(0, true);
    } else if (k === 'End') { show(slides.length - 1, true);
    } else if (k === 'n' || k === 'N') { document.body.classList.toggle('show-notes');
    } else if (k === 'f' || k === 'F') {
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (document.documentElement.requestFullscreen) {
        document.documentElement.requestFullscreen();
      }
    } else { return; }
    e.preventDefault();
  });
  document.addEventListener('click', function (e) {
    if (e.target.closest('a')) { return; }
    show(current + (e.clientX < window.innerWidth / 3 ? -1 : 1), true);
  });
  window.addEventListener('resize', fit);
  window.addEventListener('hashchange', fromHash);
  fit();
  fromHash();
})();
"""


def render(source: str, numbers: dict, base: Path) -> tuple[str, list[str]]:
    """(the whole HTML document, slide titles) for the deck's Markdown ``source``."""
    slides = split_slides(source)
    titles, sections = [], []
    for number, text in enumerate(slides, start=1):
        title, section = render_slide(fill(text, numbers, f"slide {number}"), number, base)
        titles.append(title)
        sections.append(section)
    env = numbers.get("env", {})
    footer = html.escape(f"The art of speed (Part 1) · measured with artspeed "
                         f"{env.get('artspeed', '?')} on {env.get('date', '?')}")
    body = "\n".join(sections).replace("{{footer}}", footer).replace(
        "{{total}}", str(len(sections)))
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="artspeed slides/build.py">
<title>{html.escape(titles[0])}</title>
<style>{CSS}</style>
</head>
<body class="no-js">
{body}
<script>{JS}</script>
</body>
</html>
"""
    return document, titles


def build(out_dir: Path = HERE / "build") -> Path:
    """Measure, render and write the deck; return the HTML file's path."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"Measuring into {out_dir / 'figures'} ...", flush=True)
    numbers = measure(out_dir)
    document, titles = render(DECK.read_text(encoding="utf-8"), numbers, out_dir)
    path = out_dir / OUTPUT_NAME
    tmp = path.with_suffix(".html.part")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)
    print(f"Wrote {path} ({len(titles)} slides, {path.stat().st_size / 1e6:.1f} MB) "
          f"in {time.perf_counter() - start:.0f} s")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "build",
                        help="output folder (default: slides/build)")
    args = parser.parse_args(argv)
    try:
        build(args.out)
    except BuildError as exc:
        print(f"slides/build.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
