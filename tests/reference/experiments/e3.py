from common import *
import re, sys
srv = server("WSGIScriptAlias /app {root}/logging_app.wsgi")
srv.copy_app("logging_app.wsgi")
srv.start()
try:
    for c in ["print", "print_partial", "print", "stderr", "stderr_partial", "errors", "errors_partial", "errors", "errors_multi", "errors_writelines", "logging", "errors_bytes", "stdin", ""]:
        mark = srv.log_mark()
        r = srv.get("/app?" + c)
        time.sleep(0.3)
        print("==== %s -> %d %r" % (c, r.status, r.body[:300]))
        for l in srv.error_log(mark).splitlines(): print("    LOG: " + l.replace(srv.root, "$R"))
    srv.stop(check_log=False)
    print("==== after stop")
    for l in srv.error_log().splitlines()[-14:]: print("    LOG: " + l.replace(srv.root, "$R"))
finally: srv.cleanup()
