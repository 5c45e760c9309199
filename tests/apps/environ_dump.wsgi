# Returns a JSON object: every environ key -> {"type": type name, "repr": repr(value)}
# plus "__name__" (module name of this script) and "__file__".
import json
import sys


def application(environ, start_response):
    out = {}
    for k, v in environ.items():
        out[k] = {"type": type(v).__name__, "repr": repr(v)}
    out["__module_name__"] = {"type": "str", "repr": repr(__name__)}
    out["__python_version__"] = {"type": "str", "repr": repr(sys.version)}
    body = json.dumps(out, indent=1, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
