from common import *
import re
srv = server("WSGIScriptAlias /app {root}/input_app.wsgi\nWSGIScriptAlias /b {root}/b.wsgi")
srv.copy_app("input_app.wsgi"); srv.copy_app("behaviours.wsgi", "b.wsgi"); srv.start()
def short(l): return re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")
try:
    for case in ["read", "none"]:
        with srv.connect() as c:
            c.send(("POST /app?%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n" % case).encode())
            first = c.read_available(quiet=1.0, timeout=3)
            print("== Expect, app %s: before sending body got:\n%s" % (case, first.decode()))
            if b"100 Continue" in first or not first:
                c.send(b"hello")
                print("  after body:", c.read_available(quiet=0.5).decode())
            else:
                c.send(b"hello")
                c.send(b"GET /app?none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                try: print("  then (body + a 2nd request):", c.read_until_close(6).decode()[:400])
                except TimeoutError as e: print("  timeout, got", e.args[1])
    # HTTP/1.0 with Expect
    with srv.connect() as c:
        c.send(b"POST /app?read HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        print("== HTTP/1.0 Expect: got", c.read_available(quiet=1.0, timeout=3))
    # client disconnect mid-response
    mark = srv.log_mark()
    with srv.connect() as c:
        c.send(b"GET /b?slow HTTP/1.1\r\nHost: x\r\n\r\n")
        c.read_until(b"tick 2\n")
    t = time.monotonic()
    srv.wait_for_log("close\\(\\) called", timeout=10, since=mark)
    print("== disconnect: close() seen after %.1fs" % (time.monotonic()-t))
    time.sleep(0.5)
    for l in srv.error_log(mark).splitlines(): print("   LOG:", short(l))
finally: srv.cleanup()
