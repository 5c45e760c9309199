from common import *
import sys
srv = server("WSGIScriptAlias /app {root}/b.wsgi")
srv.copy_app("behaviours.wsgi", "b.wsgi"); srv.start()
try:
    srv.get("/app?empty_iter")
    for c in sys.argv[1:]:
        with srv.connect() as conn:
            t = time.monotonic()
            conn.send(("GET /app?%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % c).encode())
            try:
                data = conn.read_until_close(timeout=9)
                how = "closed"
            except TimeoutError as e:
                data = e.args[1]; how = "still open"
            print("%-22s %s after %.2fs; %r" % (c, how, time.monotonic() - t, data.split(b"\r\n\r\n",1)[1][:80]))
finally: srv.cleanup()
