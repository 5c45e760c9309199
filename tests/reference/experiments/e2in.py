from common import *
import json
srv = server("WSGIScriptAlias /app {root}/input_app.wsgi")
srv.copy_app("input_app.wsgi"); srv.start()
BODY = b"line1\nline2\nlast-no-newline"
try:
    for c in ["read","read_minus1","read_none","read_n","read_0","readline","readline_n","readline_none","readlines","readlines_hint","iter","next","read_twice","read_str_arg","attrs"]:
        r = srv.request("POST", "/app?" + c, body=BODY)
        print("%-15s %d %s" % (c, r.status, r.json()["ops"] if r.status == 200 else r.body[:80]))
    r = srv.request("GET", "/app?read"); print("GET no body:", r.json())
    r = srv.request("POST", "/app?read", body=b""); print("POST empty:", r.json())
finally: srv.cleanup()
