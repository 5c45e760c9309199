from common import *
APP = '''
import sys, threading, time, logging
print("print at import")
sys.stderr.write("stderr at import\\n")
def bg():
    time.sleep(0.2)
    print("print from background thread")
    sys.stderr.write("partial from bg")
    logging.getLogger("bg").error("logging from bg")
def application(environ, start_response):
    threading.Thread(target=bg).start()
    environ["wsgi.errors"].write("errors in request\\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''
srv = server("WSGIScriptAlias /app {root}/t.wsgi", apps={"t.wsgi": APP}); srv.start()
try:
    mark = srv.log_mark(); srv.get("/app"); time.sleep(1)
    print(srv.error_log(mark).replace(srv.root, "$R"))
    srv.stop(check_log=False)
    print(srv.error_log()[-1200:].replace(srv.root, "$R"))
finally: srv.cleanup()
