from common import *
import sys
srv = server("WSGIScriptAlias /app {root}/hello.wsgi\n" + (sys.argv[1] if len(sys.argv) > 1 else ""))
srv.copy_app("hello.wsgi"); srv.start()
try:
    srv.get("/app"); time.sleep(0.3)
    t=time.monotonic(); srv.stop(check_log=False, timeout=14); print("stop took %.1f" % (time.monotonic()-t))
    print("\n".join(l for l in srv.error_log().replace(srv.root, "$R").splitlines() if "wsgi:" in l or "did not exit" in l or "SIGTERM" in l))
finally: srv.cleanup()
