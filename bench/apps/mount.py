"""One WSGI callable for servers that take a single application (Granian):
the bench applications under the same paths as Apache's WSGIScriptAlias."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    path = os.path.join(HERE, name)
    namespace = {"__file__": path, "__name__": "_bench_" + name.split(".")[0]}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), namespace)
    return namespace["application"]


ROUTES = [(prefix, _load(name)) for prefix, name in (
    ("/hello", "hello.wsgi"), ("/big", "big.wsgi"), ("/echo", "echo.wsgi"), ("/flask", "flask_app.wsgi"),
    ("/upload", "upload.wsgi"), ("/download", "download.wsgi"),
)]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    for prefix, app in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
            environ["PATH_INFO"] = path[len(prefix):]
            return app(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []
