from common import *
import re, sys
cases = sys.argv[1:]
srv = server("WSGIScriptAlias /app {root}/b.wsgi")
srv.copy_app("behaviours.wsgi", "b.wsgi"); srv.start()
def short(l):
    return re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")
try:
    srv.get("/app?empty_iter")
    for c in cases:
        method = "GET"
        if c.startswith("HEAD:"):
            method, c = "HEAD", c[5:]
        mark = srv.log_mark()
        data = srv.raw_request(("%s /app?%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % (method, c)).encode(), timeout=8)
        time.sleep(0.3)
        head, _, body = data.partition(b"\r\n\r\n")
        head = b"\n    ".join(l for l in head.split(b"\r\n") if not l.startswith((b"Date:", b"Server:")))
        print("==== %s %s" % (method, c))
        print("    " + head.decode("latin-1"))
        print("    BODY(%d): %r" % (len(body), body[:400]))
        for l in srv.error_log(mark).splitlines():
            print("    LOG: " + short(l))
finally:
    srv.cleanup()
