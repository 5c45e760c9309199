# Exercises wsgi.input; /app?<case>.  Returns JSON {"ops": [...results...]}
# where each result is repr() of what the call returned (or raised).
import json


def run(inp, case):
    ops = {
        "read": lambda: [inp.read()],
        "read_minus1": lambda: [inp.read(-1)],
        "read_none": lambda: [inp.read(None)],
        "read_n": lambda: [inp.read(3), inp.read(3), inp.read(100), inp.read(3)],
        "read_0": lambda: [inp.read(0), inp.read()],
        "readline": lambda: [inp.readline(), inp.readline(), inp.readline(), inp.readline()],
        "readline_n": lambda: [inp.readline(2), inp.readline(2), inp.readline(100), inp.readline(-1)],
        "readline_none": lambda: [inp.readline(None)],
        "readlines": lambda: [inp.readlines()],
        "readlines_hint": lambda: [inp.readlines(3)],
        "iter": lambda: [list(inp)],
        "next": lambda: [next(iter(inp))],
        "read_twice": lambda: [inp.read(), inp.read()],
        "read_str_arg": lambda: [inp.read("3")],
        "attrs": lambda: [type(inp).__name__, sorted(a for a in dir(inp) if not a.startswith("__"))],
        "none": lambda: [],
    }
    out = []
    for step in [ops[case]]:
        try:
            out.extend(repr(x) for x in step())
        except Exception as e:  # report what the call raised
            out.append("raised %s: %s" % (type(e).__name__, e))
    return out


def application(environ, start_response):
    case = environ.get("QUERY_STRING", "") or "read"
    ops = run(environ["wsgi.input"], case)
    body = json.dumps({
        "ops": ops,
        "CONTENT_LENGTH": environ.get("CONTENT_LENGTH"),
        "HTTP_TRANSFER_ENCODING": environ.get("HTTP_TRANSFER_ENCODING"),
        "wsgi.input_terminated": environ.get("wsgi.input_terminated"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
