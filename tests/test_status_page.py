"""The status page (SetHandler rwsgi-status): loaded in Debian's headless
chromium (--dump-dom shows the groups, processes, requests in progress,
restarts and charts; a screenshot is kept under tests/artifacts/), its ?json
form, and a request URL holding <script> shown escaped."""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest

import harness

pytestmark = pytest.mark.both_modes

ARTIFACTS = os.path.join(harness.TESTS_DIR, "artifacts")

APP = """
import time
def application(environ, start_response):
    if environ.get("PATH_INFO") == "/sleep":
        time.sleep(12)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""

CONFIG = """
WSGIScriptAlias /e {root}/app.wsgi
WSGIDaemonProcess g processes=2 threads=2 maximum-requests=3
WSGIScriptAlias /d {root}/app.wsgi process-group=g application-group=%{GLOBAL}
<Location /status>
    SetHandler rwsgi-status
    Require all granted
</Location>
"""

EVIL = "/d/sleep?<script>alert(1)</script>"


def chromium():
    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("chromium is missing (Debian's chromium package: scripts/setup.sh installs it)")
    return exe


def browse(url, *args):
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=/tmp/rwsgi-chromium-%d" % os.getpid()]
    return subprocess.run(base + list(args) + [url], capture_output=True, text=True, timeout=90)


def test_status_page(apache):
    srv = apache(CONFIG, apps={"app.wsgi": APP})
    for _ in range(8):  # maximum-requests=3: restarts to show
        assert srv.get("/d").status == 200
        assert srv.get("/e").status == 200
    # A request in progress whose URL holds a script element (sent raw, as a client could).
    def slow():
        c = harness.RawConnection(srv.port)
        c.send("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % EVIL)
        try:
            c.read_until_close(timeout=40)
        except Exception:
            pass
    t = threading.Thread(target=slow)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while True:  # until the request shows as in progress
            j = srv.get("/status?json")
            if EVIL.encode().replace(b"<", b"\\u003c").replace(b">", b"\\u003e") in j.body or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert j.status == 200 and j.header("Content-Type").startswith("application/json")
        data = json.loads(j.body)
        groups = {a["group"]: a for a in data["areas"]}
        assert "g" in groups and len(groups["g"]["processes"]) == 2
        running = [r for p in groups["g"]["processes"] for r in p["requests_in_progress"]]
        assert any(r["url"] == EVIL for r in running), running
        assert any(x["reason"] == "maximum_requests" for p in groups["g"]["processes"] for x in p["restarts"])
        assert any(h["requests_per_second"] > 0 for h in groups["g"]["history"])
        assert b"<script>" not in j.body

        page = srv.get("/status")
        assert page.status == 200 and page.header("Content-Type").startswith("text/html")
        assert "<script" not in page.text  # no script of ours, and the URL escaped
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "http://" not in page.text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external resource

        dom = browse(srv.url("/status"), "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        assert html.count('class="area"') >= 2 and "daemon group g" in html
        assert html.count("<svg") >= 3 and "<polyline" in html
        assert 'class="processes"' in html and 'class="request"' in html and 'class="restart"' in html
        assert "maximum_requests" in html
        # The browser parsed the URL as text: no script element came of it.
        assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "status-page-%s.png" % harness.default_mode())
        if os.path.exists(shot):
            os.unlink(shot)
        done = browse(srv.url("/status"), "--screenshot=" + shot, "--window-size=1200,1400", "--hide-scrollbars")
        assert done.returncode == 0 and os.path.getsize(shot) > 1000, done.stderr[-2000:]
        print("status page screenshot:", shot)
    finally:
        t.join(timeout=40)
