from common import *
srv = server("WSGIScriptAlias /app {root}/fw.wsgi")
srv.copy_app("file_wrapper.wsgi", "fw.wsgi"); srv.write_file("data.bin", bytes(i % 256 for i in range(1000))); srv.start()
DATA = bytes(i % 256 for i in range(1000))
try:
    r = srv.request("GET", "/app?file_cl_larger", raw=True)
    b = r.body
    print(b[:1000] == DATA, b[1000:1100])
    r = srv.get("/app?file_cl_larger"); print("http.client keepalive:", r.status, len(r.body), r.incomplete)
    with srv.connect() as c:
        c.send(b"GET /app?file_cl_larger HTTP/1.1\r\nHost: x\r\n\r\n")
        t = time.monotonic()
        try: d = c.read_until_close(8); print("closed after %.2f len %d" % (time.monotonic()-t, len(d)))
        except TimeoutError as e: print("timeout", len(e.args[1]))
finally: srv.cleanup()
