from common import *
srv = server("WSGIScriptAlias /app {root}/b.wsgi")
srv.copy_app("behaviours.wsgi", "b.wsgi"); srv.start()
try:
    for c in ["hdr_connection", "hdr_keepalive", "hdr_te", "hdr_upgrade"]:
        with srv.connect() as conn:
            conn.send(("GET /app?%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % c).encode())
            t = time.monotonic()
            try: data = conn.read_until_close(8); how = "closed after %.2fs" % (time.monotonic()-t)
            except TimeoutError as e: data = e.args[1]; how = "open"
            print("==", c, how); print("   " + data.decode().replace("\r\n", "\n   "))
finally: srv.cleanup()
