#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ism-bench sweep --report renders: a quick sweep writes the page and its
JSON; the page fetches nothing; headless Chromium loads it, its DOM has
the three charts with points, and a screenshot of it is not blank and
shows the series' colours.  Exits 77 (skip) without Chromium.

  bench/test_report.py BUILD/bench/ism-bench
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

ISM_RED = (0xd6, 0x27, 0x28)   # the ism series (report.c colors[0])
BLUE = (0x1f, 0x77, 0xb4)      # AF_UNIX


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(argv, timeout, **kw):
    """Run in a new session, and kill the whole session afterwards:
    Chromium forks helpers that must not outlive the test."""
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = None, None
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    return p.returncode, out, err


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("screenshot is not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                fail("unexpected PNG format %d/%d" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        off = y * (stride + 1)
        ft, line = raw[off], bytearray(raw[off + 1:off + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def near(px, rgb, tol=40):
    return all(abs(px[i] - rgb[i]) <= tol for i in range(3))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    bench = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="ism-report-")
    try:
        return check(bench, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(bench, tmp):
    rep = os.path.join(tmp, "report")
    env = dict(os.environ, ISM_BENCH_SWEEP_QUICK="1")
    rc, out, err = run([bench, "sweep", "--report", rep], 600, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if rc != 0:
        fail("ism-bench sweep exited %s: %s" % (rc, err))
    with open(os.path.join(rep, "sweep.json")) as f:
        raw = json.load(f)
    sizes = raw["sizes"]
    if sizes[0] != 64 or sizes[-1] != 1 << 20:
        fail("sizes %s" % sizes)
    if list(raw["series"])[0] != "ism channel" or len(raw["series"]) < 3:
        fail("series %s" % list(raw["series"]))
    for name, s in raw["series"].items():
        for k in ("rate_msgs_per_s", "bandwidth_GBps", "latency_one_way_us"):
            if len(s[k]) != len(sizes):
                fail("%s %s has %d points" % (name, k, len(s[k])))
    html = open(os.path.join(rep, "index.html"), encoding="utf-8").read()
    # Self-contained: nothing to load, no scripts; the one URL is the
    # SVG namespace (a name, never fetched).
    for bad in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        if bad in html:
            fail("page contains %r" % bad)
    urls = set(re.findall(r"https?://[^\"' )]+", html))
    if urls - {"http://www.w3.org/2000/svg"}:
        fail("page names URLs: %s" % urls)
    if 'href="sweep.json"' not in html:
        fail("no link to the raw JSON")

    browser = next((shutil.which(b) for b in
                    ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if not browser:
        print("SKIP: no Chromium (apt-get install chromium)")
        return 77
    url = "file://" + os.path.join(rep, "index.html")
    flags = ["--headless", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-default-apps",
             "--user-data-dir=" + os.path.join(tmp, "profile")]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    rc, dom, err = run([browser, *flags, "--dump-dom", url], 180,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dom = (dom or b"").decode("utf-8", "replace")
    if rc != 0 or "</html>" not in dom:
        fail("chromium --dump-dom: rc %s, %s" % (rc, (err or b"")[-500:]))
    charts = re.findall(r'<svg class="chart" id="([^"]+)"', dom)
    if charts != ["chart-rate", "chart-bandwidth", "chart-latency"]:
        fail("charts in the DOM: %s" % charts)
    if dom.count("<circle") < len(sizes) * 3:
        fail("only %d points in the DOM" % dom.count("<circle"))
    shot = os.path.join(tmp, "shot.png")
    rc, _, err = run([browser, *flags, "--screenshot=" + shot,
                      "--window-size=1000,1900", url], 180,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if rc != 0 or not os.path.exists(shot):
        fail("chromium --screenshot: rc %s, %s" % (rc, (err or b"")[-500:]))
    w, h, bpp, rows = png_pixels(shot)
    total = ink = red = blue = 0
    for row in rows[::2]:
        for x in range(0, w * bpp, bpp * 2):
            px = row[x:x + 3]
            total += 1
            if px[0] < 235 or px[1] < 235 or px[2] < 235:
                ink += 1
            if near(px, ISM_RED):
                red += 1
            if near(px, BLUE):
                blue += 1
    print("screenshot %dx%d: %.1f%% ink, %d ism-red and %d blue samples"
          % (w, h, 100.0 * ink / total, red, blue))
    if ink < total * 0.01:
        fail("the screenshot is blank")
    if red < 50 or blue < 50:
        fail("the series' colours are missing from the screenshot")
    print("report renders: %s charts, %d points" % (len(charts),
                                                   dom.count("<circle")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
