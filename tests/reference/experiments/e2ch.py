from common import *
from harness import chunked, parse_response
import json, re
def short(l, srv): return re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")
for extra in ["", "WSGIChunkedRequest On"]:
    srv = server("WSGIScriptAlias /app {root}/input_app.wsgi\n" + extra)
    srv.copy_app("input_app.wsgi"); srv.start()
    print("########", extra or "default")
    try:
        for label, case, hdrs, body in [
            ("chunked read", "read", {"Transfer-Encoding": "chunked"}, chunked("abc", "de\nf")),
            ("chunked no-read", "none", {"Transfer-Encoding": "chunked"}, chunked("abc")),
            ("chunked readline", "readline", {"Transfer-Encoding": "chunked"}, chunked("ab\ncd", "e\n")),
            ("TE gzip", "read", {"Transfer-Encoding": "gzip"}, b"xxxx"),
            ("TE gzip, chunked", "read", {"Transfer-Encoding": "gzip, chunked"}, chunked("abc")),
            ("TE chunked + CL", "read", {"Transfer-Encoding": "chunked", "Content-Length": "3"}, chunked("abc")),
            ("bad chunk", "read", {"Transfer-Encoding": "chunked"}, b"zz\r\nabc\r\n0\r\n\r\n"),
        ]:
            mark = srv.log_mark()
            r = srv.request("POST", "/app?" + case, headers=hdrs, body=body, raw=True)
            time.sleep(0.2)
            b = r.body.decode('latin-1')
            if r.status == 200: b = json.loads(b)
            else: b = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", b)).strip()[:160]
            print("%-18s %d %s | %s" % (label, r.status, r.reason, b))
            for l in srv.error_log(mark).splitlines():
                if "Create interp" not in l and "Loading Python" not in l: print("     LOG:", short(l, srv))
    finally: srv.cleanup()
