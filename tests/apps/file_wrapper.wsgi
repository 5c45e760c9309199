# wsgi.file_wrapper cases; /app?<case>.  Serves data.bin next to this script
# (created on first use: bytes 0..255 repeated, 1000 bytes).
import io
import os

DATA = os.path.join(os.path.dirname(__file__), "data.bin")


def data_path():
    if not os.path.exists(DATA):
        raise RuntimeError("create %s first" % DATA)
    return DATA


def application(environ, start_response):
    case = environ.get("QUERY_STRING", "")
    fw = environ["wsgi.file_wrapper"]
    headers = [("Content-Type", "application/octet-stream")]
    if case == "file":
        f = open(data_path(), "rb")
    elif case == "file_offset":
        f = open(data_path(), "rb")
        f.seek(10)
    elif case == "file_offset_cl":
        f = open(data_path(), "rb")
        f.seek(10)
        headers.append(("Content-Length", "20"))
    elif case == "file_cl_larger":
        f = open(data_path(), "rb")
        headers.append(("Content-Length", "2000"))
    elif case == "file_blksize":
        f = open(data_path(), "rb")
        start_response("200 OK", headers)
        return fw(f, 300)
    elif case == "bytesio":
        f = io.BytesIO(b"0123456789" * 3)
        f.seek(5)
    elif case == "bytesio_cl":
        f = io.BytesIO(b"0123456789" * 3)
        headers.append(("Content-Length", "7"))
    elif case == "attrs":
        w = fw(io.BytesIO(b"abc"))
        info = "%s %s %r" % (type(w).__name__, type(w).__module__,
                             sorted(a for a in dir(w) if not a.startswith("__")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [info.encode()]
    else:
        raise KeyError(case)
    start_response("200 OK", headers)
    return fw(f)
