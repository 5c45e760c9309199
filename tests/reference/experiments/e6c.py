from common import *
APP = '''
import sys
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("optimize=%d hashseed? %r" % (sys.flags.optimize, sys.flags.hash_randomization)).encode()]
'''
for c in ["", "WSGIPythonOptimize 1", "WSGIPythonOptimize 3", "WSGIPythonOptimize abc", "WSGIPythonHashSeed 0"]:
    srv = server("WSGIScriptAlias /app {root}/o.wsgi\n" + c, apps={"o.wsgi": APP}); srv.start()
    try: print(repr(c), srv.get("/app").body)
    finally: srv.cleanup()
srv = server("WSGIScriptAlias /app {root}/o.wsgi\nWSGIPythonHome /nonexistent", apps={"o.wsgi": APP}); srv.start()
time.sleep(1.5)
print("\n".join(srv.error_log().splitlines()[:30]))
srv.cleanup()
