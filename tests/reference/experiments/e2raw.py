from common import *
import sys
srv = server("WSGIScriptAlias /app {root}/b.wsgi")
srv.copy_app("behaviours.wsgi", "b.wsgi"); srv.start()
try:
    for c in sys.argv[1:]:
        data = srv.raw_request(("GET /app?%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % c).encode(), timeout=8)
        print(c, len(data)); print(data.decode('latin-1'))
finally: srv.cleanup()
