"""The example application served by scripts/run-example.sh."""

import sys


def application(environ, start_response):
    body = (
        "Hello from mod_rwsgi!\n"
        f"Python {sys.version.split()[0]}, "
        f"process group {environ['mod_wsgi.process_group'] or '(embedded)'}, "
        f"path {environ['SCRIPT_NAME']}{environ['PATH_INFO']}\n"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
