"""Read the built book in a real browser, as a reader would, and list what is wrong.

The HTML folder is served on 127.0.0.1 (an ephemeral port, a background thread)
and every page is opened in headless Chromium through Playwright. For each page:

* no console error, no uncaught exception, no failed request, no HTTP status >= 400,
  and no request to any host but 127.0.0.1 (such requests are blocked and reported);
* every ``<a href>`` to the book resolves: the file exists and so does the ``#anchor``;
* every image, ``<object>`` and inline SVG figure is loaded and drawn; animated
  images change over time; matplotlib ``to_jshtml`` animations have all their
  frames and advance when Play is clicked; ``<video>`` elements can play;
* the theme's CSS is applied, and no Markdown table is left as a raw
  ``| a | b |`` paragraph;
* MathJax, loaded from the book's own ``_static/mathjax/es5``, has typeset every
  ``.math`` element, reported no TeX error, and no raw ``\\(``, ``\\[``, ``$$`` is
  left in the text;
* a full-page screenshot is saved and is not blank.

The search page is opened with ``?q=Kohonen`` and must list results.

Usage::

    python -m tools.book.browser _build/html [--screens _build/screens]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import functools
import http.server
import io
import shutil
import threading
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["CHROMIUM", "serve", "book_pages", "anchors", "frame_count", "screenshot_problem", "Report", "check_book"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOST = "127.0.0.1"
SEARCH_QUERY = "Kohonen"
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 20_000
MIN_SCREENSHOT_BYTES = 10_000


# --- the local server -------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(html_dir):
    """Serve ``html_dir`` on 127.0.0.1 in a background thread; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- what the build contains --------------------------------------------------------


def book_pages(html_dir):
    """Every page of the built book, as paths relative to ``html_dir`` ("book/intro.html").

    Sphinx's own folders (``_static``, ``_sources``, ``_images``...) are left out;
    ``search.html`` is listed too, and is opened with a query by :func:`check_book`.
    """
    html_dir = Path(html_dir)
    return sorted(
        path.relative_to(html_dir).as_posix()
        for path in html_dir.rglob("*.html")
        if not any(part.startswith("_") for part in path.relative_to(html_dir).parts)
    )


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])


@functools.cache
def anchors(path):
    """The ids (and ``<a name>``) in an HTML file: what a ``#fragment`` may point to."""
    parser = _Anchors()
    parser.feed(Path(path).read_text(errors="replace"))
    return frozenset(parser.ids)


def frame_count(data):
    """Frames in an image file (GIF, APNG, WebP...), 1 for still images or unknown formats."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return getattr(image, "n_frames", 1)
    except Exception:
        return 1


def screenshot_problem(path):
    """Why a screenshot looks wrong (too small, blank), or None."""
    from PIL import Image

    size = Path(path).stat().st_size
    if size < MIN_SCREENSHOT_BYTES:
        return f"screenshot is only {size} bytes"
    with Image.open(path) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
        pixels = grey.width * grey.height
        colours = len(image.convert("RGB").getcolors(maxcolors=1 << 20) or range(1 << 20))
    ink = sum(histogram[:240]) / pixels
    if ink < 0.005 or colours < 16:
        return f"screenshot looks blank ({ink:.2%} non-white pixels, {colours} colours)"
    return None


# --- JavaScript run in each page ----------------------------------------------------

# Everything about the page once it is loaded and MathJax is done, in one call.
INSPECT_JS = r"""
() => {
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  // Collapsed on purpose: closed details and toggles, and the header's dropdown menus
  // (the launch buttons' Binder and Colab logos sit in one until it is opened).
  const hidden = el => el.closest('details:not([open]), [hidden], .toggle-hidden, .dropdown-menu') !== null;

  // Text nodes a reader sees, outside code, scripts and typeset maths.
  // Sphinx's search summaries quote the page source, TeX included: not typesetting.
  const skip = 'pre, code, script, style, textarea, noscript, mjx-container, .highlight,'
             + ' #search-results';
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement && !node.parentElement.closest(skip)) texts.push(node.nodeValue);
  }
  const text = texts.join(' ');
  const rawMath = [];
  for (const re of [/\\\(.{0,60}/g, /\\\[.{0,60}/g, /\$\$.{0,60}/g,
                    /\$[^$\s][^$\n]{0,80}?[\\^_][^$\n]{0,80}?\$/g]) {
    for (const m of text.matchAll(re)) rawMath.push(m[0].replace(/\s+/g, ' '));
  }
  // A Markdown table printed as a paragraph: "| a | b |" then "|---|---|" (or em dashes).
  const rawTables = [...document.querySelectorAll('p')]
    .filter(p => !p.closest(skip) && /\|\s*[-\u2013\u2014:]{1,}\s*\|/.test(p.textContent))
    .map(p => p.textContent.trim().replace(/\s+/g, ' ').slice(0, 80));

  const maths = [...document.querySelectorAll('.math')];
  const mathjaxScript = document.querySelector('script[src*="mathjax" i]');
  const theme = getComputedStyle(document.documentElement);

  return {
    title: document.title,
    links: [...document.querySelectorAll('a[href]')].map(a => ({
      href: a.href, raw: a.getAttribute('href'), text: a.textContent.trim().slice(0, 60),
    })),
    images: [...document.images].map(img => ({
      src: img.currentSrc || img.src,
      loaded: img.complete && img.naturalWidth > 0,
      natural: [img.naturalWidth, img.naturalHeight],
      drawn: visible(img) || hidden(img),
      animation: img.id.startsWith('_anim_img'),
    })),
    objects: [...document.querySelectorAll('object')].map(o => {
      const doc = o.contentDocument;
      const root = doc && doc.documentElement;
      return {data: o.data, loaded: !!root && root.children.length > 0,
              drawn: visible(o) || hidden(o)};
    }),
    svgs: [...document.querySelectorAll('figure svg, .cell_output svg, .output svg')]
      .filter(svg => !svg.parentElement.closest('svg, button'))
      .map(svg => ({drawn: visible(svg) || hidden(svg), size: svg.outerHTML.length})),
    videos: [...document.querySelectorAll('video')].map(v => ({
      src: v.currentSrc.slice(0, 80), ready: v.readyState, error: v.error && v.error.message,
      duration: v.duration,
    })),
    stylesheets: [...document.querySelectorAll('link[rel="stylesheet"]')]
      .map(l => ({href: l.href, loaded: l.sheet !== null})),
    themeApplied: theme.getPropertyValue('--pst-color-primary').trim() !== '',
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                    .map(m => m.textContent.trim().slice(0, 80)),
    mjxContainers: document.querySelectorAll('mjx-container').length,
    mathErrors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80)),
    mathjaxSrc: mathjaxScript ? mathjaxScript.src : null,
    mathjaxVersion: window.MathJax && window.MathJax.version || null,
    rawMath: rawMath,
    rawTables: rawTables,
  };
}
"""

# matplotlib's to_jshtml: <div class="animation"> holding <img id="_anim_img{id}">,
# a slider, Play/Pause buttons and a global ``anim{id}`` holding every frame.
JSHTML_FRAMES_JS = r"""
(img) => {
  const anim = window['anim' + img.id.slice('_anim_img'.length)];
  if (!anim) return null;
  return anim.frames.map(f => f.complete && f.naturalWidth > 0);
}
"""


# --- the crawl ------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    pages: list = dataclasses.field(default_factory=list)
    problems: list = dataclasses.field(default_factory=list)
    counts: Counter = dataclasses.field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self):
        counts = ", ".join(f"{key} {value}" for key, value in sorted(self.counts.items()))
        return f"{len(self.pages)} pages in {self.seconds:.1f} s: {counts}"


class _PageCheck:
    """One page: listens to the browser while it loads, then inspects the DOM."""

    def __init__(self, report, html_dir, base, name):
        self.report, self.html_dir, self.base, self.name = report, Path(html_dir), base, name
        self.blocked = set()  # requests to other hosts, refused
        self.failed = set()  # requests that failed or answered >= 400
        self.console_errors = []  # (text, url), reported once the page has settled
        self.mathjax_responses = []

    def problem(self, message):
        self.report.problems.append(f"{self.name}: {message}")

    def local_file(self, url):
        """The file under html_dir a URL of the local server points to, or None."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc != urlsplit(self.base).netloc:
            return None
        path = unquote(parts.path).lstrip("/")
        if path == "" or path.endswith("/"):
            path += "index.html"
        return self.html_dir / path

    # Listeners -------------------------------------------------------------------

    def route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != HOST:
            self.blocked.add(url)
            self.problem(f"request to another host (blocked): {url}")
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def on_console(self, message):
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.console_errors.append((message.text, where))

    def report_console_errors(self):
        for text, where in self.console_errors:
            # Chromium echoes every failed load; the request listeners already said which.
            if text.startswith("Failed to load resource") and where in self.blocked | self.failed:
                continue
            self.problem(f"console error: {text} [{where}]")
            self.report.counts["console errors"] += 1

    def on_pageerror(self, error):
        self.problem(f"uncaught exception: {error.name}: {error.message}")
        self.report.counts["console errors"] += 1

    def on_request(self, request):
        self.report.counts["requests"] += 1

    def on_requestfailed(self, request):
        if request.url in self.blocked:
            return
        self.failed.add(request.url)
        self.problem(f"request failed ({request.failure}): {request.url}")
        self.report.counts["failed requests"] += 1

    def on_response(self, response):
        if response.status >= 400:
            self.failed.add(response.url)
            self.problem(f"HTTP {response.status}: {response.url}")
            self.report.counts["failed requests"] += 1
        if "mathjax" in response.url.lower():
            self.mathjax_responses.append(response.url)

    def attach(self, page):
        page.route("**/*", self.route)
        page.on("console", self.on_console)
        page.on("pageerror", self.on_pageerror)
        page.on("request", self.on_request)
        page.on("requestfailed", self.on_requestfailed)
        page.on("response", self.on_response)

    # Checks ----------------------------------------------------------------------

    def wait_for_mathjax(self, page):
        if not page.query_selector('script[src*="mathjax" i]'):
            return
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=TIMEOUT_MS
            )
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        except Exception as error:  # a timeout, or MathJax's promise rejected
            self.problem(f"MathJax did not finish typesetting: {str(error).splitlines()[0]}")

    def check_links(self, links):
        for link in links:
            target = self.local_file(link["href"])
            if target is None:
                if urlsplit(link["href"]).scheme in ("http", "https"):
                    self.report.counts["external links (not followed)"] += 1
                continue
            self.report.counts["internal links"] += 1
            label = f'link "{link["text"]}" -> {link["raw"]}'
            if not target.is_file():
                self.problem(f"broken {label}: no file {target.relative_to(self.html_dir)}")
                continue
            fragment = unquote(urlsplit(link["href"]).fragment)
            if fragment and target.suffix == ".html" and fragment not in anchors(target):
                self.problem(f"broken {label}: no id {fragment!r} in {target.relative_to(self.html_dir).as_posix()}")

    def check_figures(self, page, info):
        counts = self.report.counts
        for index, image in enumerate(info["images"]):
            counts["images"] += 1
            src = image["src"]
            short = src[:40] + "..." if src.startswith("data:") else src
            if not image["loaded"]:
                self.problem(f"image not loaded: {short}")
            elif not image["drawn"]:
                self.problem(f"image loaded but drawn with zero size: {short}")
            if image["loaded"] and not image["animation"]:
                self.check_animated_image(page.locator("xpath=//img").nth(index), src, short)
        for obj in info["objects"]:
            counts["objects"] += 1
            if not (obj["loaded"] and obj["drawn"]):
                self.problem(f"<object> not loaded or not drawn: {obj['data']}")
        for svg in info["svgs"]:
            counts["inline svgs"] += 1
            if not svg["drawn"]:
                self.problem(f"inline SVG figure ({svg['size']} characters) drawn with zero size")
        for video in info["videos"]:
            counts["videos"] += 1
            if video["error"] or video["ready"] < 1 or not video["duration"]:
                why = video["error"] or "no metadata"
                self.problem(f"video cannot play ({why}): {video['src']}")
        for element in page.query_selector_all("div.animation img[id^='_anim_img']"):
            counts["jshtml animations"] += 1
            self.check_jshtml(page, element)

    def check_animated_image(self, element, src, short):
        """An image with several frames must change on screen over a few seconds."""
        if src.startswith("data:"):
            header, _, payload = src.partition(",")
            data = base64.b64decode(payload) if header.endswith(";base64") else b""
        else:
            path = self.local_file(src)
            data = path.read_bytes() if path and path.is_file() else b""
        if frame_count(data) < 2:
            return
        self.report.counts["animated images"] += 1
        element.scroll_into_view_if_needed()
        first = element.screenshot()
        for _ in range(30):
            time.sleep(0.1)
            if element.screenshot() != first:
                return
        self.problem(f"animated image ({frame_count(data)} frames) did not change in 3 s: {short}")

    def check_jshtml(self, page, img):
        """matplotlib to_jshtml: every frame decodes, Play advances, the slider shows the frame it points at."""
        img.scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.src !== ''", arg=img, timeout=TIMEOUT_MS)
        frames = page.evaluate(JSHTML_FRAMES_JS, img)
        name = img.get_attribute("id")
        if not frames or len(frames) < 2:
            self.problem(f"jshtml animation {name} has {len(frames or [])} frames")
            return
        if not all(frames):
            broken = [i for i, ok in enumerate(frames) if not ok]
            self.problem(f"jshtml animation {name}: frames {broken} do not load")
        before = img.get_attribute("src")
        container = page.locator(f"div.animation:has(#{name})")
        container.locator("button[title='Play']").click()
        try:
            page.wait_for_function("([img, src]) => img.src !== src", arg=[img, before], timeout=5_000)
        except Exception:
            self.problem(f"jshtml animation {name}: clicking Play does not advance the frames")
        container.locator("button[title='Pause']").click()
        # The slider: moved to the last frame, it must show that frame.
        before = img.get_attribute("src")
        container.locator("input[type='range']").fill(str(len(frames) - 1))
        try:
            page.wait_for_function(
                "([img, src, last]) => img.src !== src"
                " && img.src === window['anim' + img.id.slice(9)].frames[last].src",
                arg=[img, before, len(frames) - 1],
                timeout=5_000,
            )
            self.report.counts["sliders moved"] += 1
        except Exception:
            self.problem(f"jshtml animation {name}: moving the slider to the last frame does not show it")

    def check_maths(self, info):
        counts = self.report.counts
        counts["math elements"] += info["maths"]
        counts["mjx-containers"] += info["mjxContainers"]
        if info["maths"] and not info["mathjaxSrc"]:
            self.problem(f"{info['maths']} .math elements but no MathJax script")
        for math in info["untypeset"]:
            self.problem(f"formula not typeset by MathJax: {math!r}")
        for error in info["mathErrors"]:
            self.problem(f"MathJax error: {error!r}")
        for raw in info["rawMath"]:
            self.problem(f"raw TeX left in the text: {raw!r}")
        local = f"{self.base}_static/mathjax/es5/"
        if info["mathjaxSrc"]:
            if not info["mathjaxSrc"].startswith(local):
                self.problem(f"MathJax not loaded from the book's copy: {info['mathjaxSrc']}")
            elif not info["mathjaxVersion"]:
                self.problem("the MathJax script did not run")
            else:
                counts["pages with MathJax"] += 1
        for url in self.mathjax_responses:
            if not url.startswith(local):
                self.problem(f"MathJax file from outside _static/mathjax/es5: {url}")

    def check_style(self, info):
        for raw in info["rawTables"]:
            self.problem(f"Markdown table shown as a paragraph, not rendered: {raw!r}")
        for sheet in info["stylesheets"]:
            if not sheet["loaded"]:
                self.problem(f"stylesheet not applied: {sheet['href']}")
        if not info["themeApplied"]:
            self.problem("the theme's CSS is not applied (no --pst-color-primary)")

    def check_search(self, page):
        # Sphinx's searchtools fills ".search-summary" once every result is listed.
        summary = "#search-results .search-summary"
        try:
            page.wait_for_function(f"() => document.querySelector({summary!r})?.textContent.trim()", timeout=TIMEOUT_MS)
        except Exception:
            self.problem(f"search for {SEARCH_QUERY!r} never finished")
            return
        found = page.locator("#search-results ul.search li").count()
        self.report.counts[f"search results for {SEARCH_QUERY}"] = found
        if not found:
            text = page.locator(summary).inner_text().strip()
            self.problem(f"search for {SEARCH_QUERY!r} finds nothing: {text[:200]!r}")

    def run(self, browser, url, screenshot):
        # A fresh profile for every page: each is checked as a first-time reader sees it.
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        self.attach(page)
        try:
            page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
            if 'http-equiv="refresh"' in self.local_file(url).read_text().lower():
                page.wait_for_url(lambda now: now != url, timeout=TIMEOUT_MS)
            page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
            self.wait_for_mathjax(page)
            if self.name == "search":
                self.check_search(page)
            info = page.evaluate(INSPECT_JS)
            self.check_links(info["links"])
            self.check_figures(page, info)
            self.check_maths(info)
            self.check_style(info)
            page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=screenshot, full_page=True, animations="disabled")
            self.report.counts["screenshots"] += 1
            problem = screenshot_problem(screenshot)
            if problem:
                self.problem(f"{problem}: {screenshot}")
        except Exception as error:
            self.problem(f"could not be checked: {type(error).__name__}: {error}")
        finally:
            context.close()
            self.report_console_errors()


def check_book(html_dir, screens_dir, chromium=CHROMIUM):
    """Open every page of the book in Chromium; return a :class:`Report`.

    Screenshots go to ``screens_dir/<page>.png`` (the folder is emptied first).
    """
    from playwright.sync_api import sync_playwright

    html_dir, screens_dir = Path(html_dir), Path(screens_dir)
    start = time.monotonic()
    report = Report()
    shutil.rmtree(screens_dir, ignore_errors=True)
    with serve(html_dir) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            for page in book_pages(html_dir):
                name = page.removesuffix(".html")
                url = base + page + (f"?q={SEARCH_QUERY}" if name == "search" else "")
                report.pages.append(name)
                _PageCheck(report, html_dir, base, name).run(browser, url, screens_dir / f"{name}.png")
        finally:
            browser.close()
    report.seconds = time.monotonic() - start
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book's html folder")
    parser.add_argument("--screens", type=Path, default=Path("_build/screens"))
    args = parser.parse_args(argv)
    report = check_book(args.html, args.screens)
    print(report.summary())
    print("\n".join(report.problems) or "no problem found")
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
