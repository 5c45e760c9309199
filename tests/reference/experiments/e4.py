from common import *
import re, os, hashlib
def short(l, srv): return re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")
SRC = '''
import os, time
LOADED = time.time()
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("v%d %s %s %d" % (VERSION, __name__, __file__, os.getpid())).encode()]
VERSION = {v}
'''
for extra in ["", "WSGIScriptReloading Off"]:
    srv = server("WSGIScriptAlias /app {root}/r.wsgi\n" + extra, mpm="prefork", mpm_config="StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\nMaxRequestWorkers 1\n")
    p = srv.write_file("r.wsgi", SRC.format(v=1)); srv.start()
    print("####", extra or "default", "md5(path)=", hashlib.md5(p.encode()).hexdigest())
    try:
        print(srv.get("/app").body.decode().replace(srv.root, "$R"))
        mark = srv.log_mark()
        srv.write_file("r.wsgi", SRC.format(v=2))
        st = os.stat(p); os.utime(p, (st.st_atime, st.st_mtime + 5))
        print(srv.get("/app").body.decode().replace(srv.root, "$R"))
        # touch only (same content)
        os.utime(p, (st.st_atime, st.st_mtime + 10))
        print(srv.get("/app").body.decode().replace(srv.root, "$R"))
        # change content but restore mtime
        srv.write_file("r.wsgi", SRC.format(v=3)); os.utime(p, (st.st_atime, st.st_mtime + 10))
        print("same mtime, new content:", srv.get("/app").body.decode().replace(srv.root, "$R"))
        time.sleep(0.2)
        for l in srv.error_log(mark).splitlines(): print("   LOG:", short(l, srv))
    finally: srv.cleanup()
