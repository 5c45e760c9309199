from common import *
APP = '''
import os
def application(environ, start_response):
    n = environ["QUERY_STRING"]
    f = open(os.path.join(os.path.dirname(__file__), "data.bin"), "rb")
    start_response("200 OK", [("Content-Length", n)])
    return environ["wsgi.file_wrapper"](f)
'''
srv = server("WSGIScriptAlias /app {root}/fw.wsgi")
srv.write_file("fw.wsgi", APP); srv.write_file("data.bin", bytes(i % 256 for i in range(1000))); srv.start()
try:
    for n in ["4096", "5000", "100000"]:
        try:
            r = srv.request("GET", "/app?" + n, raw=True, timeout=8)
            print(n, r.status, len(r.body), r.complete)
        except Exception as e: print(n, "EXC", e)
    time.sleep(0.3)
    print("\n".join(l for l in srv.error_log().splitlines() if "wsgi:debug" in l or "signal" in l or "error" in l))
    print("EnableMMAP Off:")
finally: srv.cleanup()
srv = server("WSGIScriptAlias /app {root}/fw.wsgi\nEnableMMAP Off")
srv.write_file("fw.wsgi", APP); srv.write_file("data.bin", bytes(i % 256 for i in range(1000))); srv.start()
try:
    for n in ["2000"]:
        try:
            r = srv.request("GET", "/app?" + n, raw=True, timeout=8)
            print(n, r.status, len(r.body), r.complete)
        except Exception as e: print(n, "EXC", e)
    time.sleep(0.3)
    print("\n".join(l for l in srv.error_log().splitlines() if "wsgi:debug" in l or "signal" in l or "error" in l))
finally: srv.cleanup()
