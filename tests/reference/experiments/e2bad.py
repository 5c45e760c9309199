from common import *
srv = server("WSGIScriptAlias /app {root}/input_app.wsgi\nWSGIChunkedRequest On")
srv.copy_app("input_app.wsgi"); srv.start()
try:
    print(srv.raw_request(b"POST /app?read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").decode())
    print("---- keepalive")
    with srv.connect() as c:
        c.send(b"POST /app?read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        t=time.monotonic(); 
        try: d = c.read_until_close(8); print("closed after %.1f" % (time.monotonic()-t))
        except TimeoutError as e: d = e.args[1]; print("timeout")
        print(d.decode())
finally: srv.cleanup()
