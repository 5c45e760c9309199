from common import *
import re
srv = server("WSGIScriptAlias /app {root}/fw.wsgi")
srv.copy_app("file_wrapper.wsgi", "fw.wsgi"); srv.write_file("data.bin", bytes(i % 256 for i in range(1000))); srv.start()
DATA = bytes(i % 256 for i in range(1000))
def short(l): return re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")
try:
    for c in ["file", "file_offset", "file_offset_cl", "file_cl_larger", "file_blksize", "bytesio", "bytesio_cl", "attrs"]:
        mark = srv.log_mark()
        r = srv.request("GET", "/app?" + c, raw=True)
        hs = [h for h in r.headers if h[0] not in ("Date", "Server")]
        b = r.body
        where = DATA.find(b[:50]) if b else None
        print("%-15s %d %s len=%d startoffset=%s complete=%s %r" % (c, r.status, hs, len(b), where, r.complete, b[:40] if c in ("bytesio","bytesio_cl","attrs") else ""))
        time.sleep(0.1)
        for l in srv.error_log(mark).splitlines():
            if "Create interp" not in l and "Loading Python" not in l: print("   LOG:", short(l))
finally: srv.cleanup()
