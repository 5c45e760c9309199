from common import *
import sys
mpm = sys.argv[1]
srv = server("WSGIScriptAlias /app {root}/hello.wsgi", mpm=mpm)
srv.copy_app("hello.wsgi"); srv.start()
try:
    srv.get("/app"); srv.get("/app"); time.sleep(0.3)
    srv.stop(check_log=False, timeout=12)
    print(srv.error_log().replace(srv.root, "$R"))
finally: srv.cleanup()
