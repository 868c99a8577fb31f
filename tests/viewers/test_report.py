"""`glassbox report` seen in a browser: trains a small CIFAR-10 model for 2 epochs on a subset,
scores three explanation methods with `evaluate-explanations --json`, prunes it, writes the report
of both checkpoints and opens each page in headless Chromium (Debian's `chromium`) through the
Chrome DevTools Protocol over --remote-debugging-pipe (no pip packages). Checks: the page loads
with no exception, console error or log error; it requests nothing but itself; every section is
there (DOM ids); the SVG charts have their polylines; every image decoded; the pruned checkpoint's
page has the pruning table. A screenshot goes to build/test-artifacts/report.png. The checker
itself is tested on deliberately broken pages, so a broken report cannot pass.

Run from this folder: python3 -m unittest -v (GLASSBOX: the binary, default ../../build/glassbox;
GB_CIFAR10: the archive, default ../../../shared/data/cifar10-jpg.tar.gz; CHROMIUM: the browser).
"""
import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GLASSBOX = os.environ.get("GLASSBOX", os.path.join(ROOT, "build", "glassbox"))
CIFAR = os.environ.get("GB_CIFAR10") or os.path.join(ROOT, "..", "shared", "data",
                                                     "cifar10-jpg.tar.gz")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = os.path.join(ROOT, "build", "test-artifacts")
SECTIONS = ["overview", "training", "evaluation", "gallery", "explanations", "layers", "graph"]


class Chromium:
    """Headless Chromium driven over the DevTools protocol on fds 3 (to it) and 4 (from it):
    NUL-terminated JSON messages, one page (target) attached in flat session mode."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="glassbox-chromium-")
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def child_fds():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile}", "--window-size=1280,900", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._next_id = 0
        self.events = []
        self.session = None
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
            for domain in ["Page", "Runtime", "Log", "Network"]:
                self.call(domain + ".enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                      session=True)
        except Exception:
            self.close()
            raise

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - it may be gone already
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _receive(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_r], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_r, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=False, timeout=30):
        """Sends a command and returns its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._receive(deadline)
            if m.get("id") == self._next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def load(self, path, timeout=60):
        """Opens file `path`; returns (errors, requested URLs) seen until its load event."""
        url = "file://" + os.path.abspath(path)
        self.events = []
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            m = self._receive(deadline)
            if "method" in m:
                self.events.append(m)
        self.evaluate("1")  # let events queued behind the load arrive
        errors, requests = [], []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                errors.append("exception: " + d.get("exception", {}).get("description",
                                                                         d.get("text", "")))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error",
                                                                                  "assert"):
                errors.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append("log: " + p["entry"].get("text", ""))
            elif e["method"] == "Network.requestWillBeSent":
                requests.append(p["request"]["url"])
        return errors, [u for u in requests if u != url and not u.startswith("data:")]

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      session=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path):
        """A PNG of the whole page (not only the viewport)."""
        metrics = self.call("Page.getLayoutMetrics", session=True)
        size = metrics.get("cssContentSize", metrics.get("contentSize"))
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000),
                "scale": 1}
        data = self.call("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True, "clip": clip},
                         session=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def have_chromium():
    return os.access(CHROMIUM, os.X_OK)


def glassbox(*args, check=True):
    r = subprocess.run([GLASSBOX, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
    if check and r.returncode != 0:
        raise RuntimeError(f"glassbox {' '.join(map(str, args))} failed ({r.returncode}):\n"
                           f"{r.stdout}{r.stderr}")
    return r


@unittest.skipUnless(have_chromium(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
class ChromiumCheckerTest(unittest.TestCase):
    """The checker finds what it is meant to find, so a clean report page means something."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="glassbox-report-checker-")
        cls.browser = Chromium()

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def page(self, name, body):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}"
                    "</body></html>")
        return path

    def test_clean_page_has_no_errors(self):
        errors, requests = self.browser.load(self.page("ok.html", "<p id='x'>fine</p>"))
        self.assertEqual(errors, [])
        self.assertEqual(requests, [])
        self.assertEqual(self.browser.evaluate("document.getElementById('x').textContent"), "fine")

    def test_thrown_exception_is_caught(self):
        errors, _ = self.browser.load(self.page("throw.html", "<script>throw 1</script>"))
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("exception", errors[0])

    def test_console_error_and_broken_image_are_caught(self):
        errors, _ = self.browser.load(self.page(
            "console.html", "<script>console.error('deliberate')</script>"
            "<img src='missing.png'>"))
        self.assertTrue(any("deliberate" in e for e in errors), errors)
        self.assertTrue(any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errors),
                        errors)

    def test_external_request_is_caught(self):
        _, requests = self.browser.load(self.page(
            "net.html", "<img src='http://glassbox.invalid/x.png'>"))
        self.assertEqual(requests, ["http://glassbox.invalid/x.png"])


@unittest.skipUnless(have_chromium(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
@unittest.skipUnless(os.path.exists(CIFAR), f"no CIFAR-10 archive at {CIFAR} (set GB_CIFAR10)")
@unittest.skipUnless(os.access(GLASSBOX, os.X_OK), f"no glassbox binary at {GLASSBOX}")
class ReportPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="glassbox-report-")
        d = cls.dir
        cls.ck = os.path.join(d, "ck.safetensors")
        cls.metrics = os.path.join(d, "run.json")
        glassbox("train", "--model", "smallcnn", "--width", "0.5", "--data", CIFAR,
                 "--epochs", 2, "--limit-train", 1000, "--limit-test", 200, "--batch-size", 50,
                 "--out", cls.ck, "--json", cls.metrics, "--quiet", "--threads", 2)
        cls.table = os.path.join(d, "table.json")
        glassbox("evaluate-explanations", "--checkpoint", cls.ck, "--count", 4, "--methods",
                 "gradcam,ig,occlusion", "--json", cls.table, "--quiet", "--threads", 2)
        cls.pruned = os.path.join(d, "pruned.safetensors")
        glassbox("prune", "--checkpoint", cls.ck, "--structured", "--criterion", "l1",
                 "--target-macs", 0.6, "--limit-test", 200, "--no-timing", "--cam-images", 0,
                 "--out", cls.pruned, "--quiet", "--threads", 2)
        cls.page = os.path.join(d, "report.html")
        cls.output = glassbox("report", "--checkpoint", cls.ck, "--metrics", cls.metrics,
                              "--explanations", cls.table, "--count", 200, "--gallery", 4,
                              "--methods", "gradcam,ig,occlusion", "--out", cls.page,
                              "--quiet", "--threads", 2).stdout
        cls.pruned_page = os.path.join(d, "pruned.html")
        glassbox("report", "--checkpoint", cls.pruned, "--count", 200, "--gallery", 2,
                 "--out", cls.pruned_page, "--quiet", "--threads", 2)
        cls.browser = Chromium()
        cls.errors, cls.requests = cls.browser.load(cls.page)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def js(self, expression):
        return self.browser.evaluate(expression)

    def test_page_loads_without_errors_or_requests(self):
        self.assertEqual(self.errors, [])
        self.assertEqual(self.requests, [])
        self.assertEqual(self.js("document.readyState"), "complete")
        # Nothing refers outside the page: every src/href is a data: URI or an anchor.
        outside = self.js("[...document.querySelectorAll('[src],[href]')].map(e => "
                          "e.getAttribute('src') || e.getAttribute('href'))"
                          ".filter(u => !u.startsWith('data:') && !u.startsWith('#'))")
        self.assertEqual(outside, [])

    def test_every_section_is_present(self):
        ids = self.js("[...document.querySelectorAll('section')].map(s => s.id)")
        self.assertEqual(ids, SECTIONS)
        self.assertIn("sections " + ", ".join(SECTIONS), self.output)
        for inner in ["chart-loss", "chart-accuracy", "chart-lr", "history-table", "per-class",
                      "confusion", "gallery-table", "explanations-table", "layer-table"]:
            self.assertTrue(self.js(f"!!document.getElementById('{inner}')"), inner)

    def test_charts_have_their_polylines(self):
        counts = self.js("['chart-loss','chart-accuracy','chart-lr'].map(id => "
                         "document.querySelectorAll('#' + id + ' svg polyline.series').length)")
        self.assertEqual(counts, [2, 2, 1])
        points = self.js("document.querySelector('#chart-loss polyline').getAttribute('points')")
        self.assertEqual(len(points.split()), 2)  # two epochs
        self.assertEqual(self.js("document.querySelectorAll('#per-class rect.bar').length"), 10)
        self.assertEqual(self.js("document.querySelectorAll('#confusion tr').length"), 11)

    def test_images_decoded(self):
        sizes = self.js("[...document.images].map(i => [i.complete, i.naturalWidth])")
        self.assertEqual(len(sizes), 4 * 4)  # 4 images x (input + 3 methods)
        for complete, width in sizes:
            self.assertTrue(complete)
            self.assertEqual(width, 128)

    def test_explanation_table_and_graph(self):
        methods = self.js("[...document.querySelectorAll('#explanations-table tr td:first-child')]"
                          ".map(td => td.textContent)")
        self.assertEqual(methods, ["gradcam", "ig", "occlusion", "random", "random-smooth"])
        drawn = self.js("!!document.querySelector('#graph-svg svg g.node')")
        listed = self.js("!!document.getElementById('graph-list')")
        self.assertTrue(drawn or listed)
        if shutil.which("dot"):
            self.assertTrue(drawn, "Graphviz is installed but the graph was not drawn")

    def test_screenshot(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, "report.png")
        self.browser.screenshot(path)
        with open(path, "rb") as f:
            head = f.read(24)
        self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(int.from_bytes(head[20:24], "big"), 900)  # taller than the viewport

    def test_pruned_page_has_the_pruning_section(self):
        browser = Chromium()
        try:
            errors, requests = browser.load(self.pruned_page)
            self.assertEqual(errors, [])
            self.assertEqual(requests, [])
            ids = browser.evaluate("[...document.querySelectorAll('section')].map(s => s.id)")
            self.assertEqual(ids, SECTIONS + ["pruning"])
            rows = browser.evaluate("document.querySelectorAll('#pruning-table tr').length")
            self.assertGreater(rows, 3)
        finally:
            browser.close()

    def test_existing_out_is_kept_without_overwrite(self):
        before = os.path.getmtime(self.page)
        r = glassbox("report", "--checkpoint", self.ck, "--out", self.page, "--quiet",
                     check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--overwrite", r.stderr)
        self.assertEqual(os.path.getmtime(self.page), before)

    def test_checkpoint_without_history_fails_before_any_work(self):
        # An imported-style checkpoint: the trained one's tensors under metadata with no history.
        bare = os.path.join(self.dir, "bare.safetensors")
        with open(self.ck, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
            rest = f.read()
        meta = json.loads(header["__metadata__"]["glassbox"])
        meta.pop("history", None)
        header["__metadata__"]["glassbox"] = json.dumps(meta)

        def write_bare():
            text = json.dumps(header).encode()
            text += b" " * ((8 - len(text) % 8) % 8)
            with open(bare, "wb") as f:
                f.write(len(text).to_bytes(8, "little") + text + rest)
        # Edited by another tool with glassbox's checksum record kept: the header no longer
        # matches it, so the file is refused as damaged.
        write_bare()
        r = glassbox("report", "--checkpoint", bare, "--out", os.path.join(self.dir, "x.html"),
                     check=False)
        self.assertIn(bare + ": its header", r.stderr)
        # Written without a record (as another tool writes it): loads with a note.
        header["__metadata__"].pop("checksums")
        write_bare()
        out = os.path.join(self.dir, "bare.html")
        start = time.monotonic()
        r = glassbox("report", "--checkpoint", bare, "--out", out, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(bare + ": no training history", r.stderr)
        self.assertLess(time.monotonic() - start, 10)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
