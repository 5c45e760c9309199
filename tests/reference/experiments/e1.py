import sys, json
import os; sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from harness import ApacheServer
def dump(srv, path, headers=None, label=None):
    r = srv.get(path, headers=headers)
    print("=== %s  %s -> %d" % (label or '', path, r.status))
    if r.status == 200 and r.header('content-type') == 'application/json':
        d = r.json()
        return d
    print(r.body[:600]); return None

conf = """
WSGIScriptAlias /app {root}/env.wsgi
"""
srv = ApacheServer(module="wsgi", config=conf)
srv.copy_app("environ_dump.wsgi", "env.wsgi")
srv.start()
try:
    d = dump(srv, "/app")
    for k in sorted(d): print("%-40s %-8s %s" % (k, d[k]['type'], d[k]['repr']))
    for p in ["/app/", "/app/x/y?q=1", "/app/x%2Fy/%7Ez?a=%20b"]:
        d = dump(srv, p)
        d and print({k: d[k]["repr"] for k in ("SCRIPT_NAME","PATH_INFO","REQUEST_URI","QUERY_STRING","PATH_TRANSLATED","SCRIPT_FILENAME","mod_wsgi.application_group", "mod_wsgi.script_name","mod_wsgi.path_info") if k in d})
finally:
    srv.cleanup()
