# Writes to every logging channel; /app?<case> picks one, no case = all.
import logging
import sys


def application(environ, start_response):
    case = environ.get("QUERY_STRING", "")
    if case in ("", "print"):
        print("via print")
    if case in ("", "print_partial"):
        print("partial-no-newline", end="")
    if case in ("", "stderr"):
        sys.stderr.write("via sys.stderr\n")
    if case in ("", "stderr_partial"):
        sys.stderr.write("stderr-partial-no-newline")
    if case in ("", "errors"):
        environ["wsgi.errors"].write("via wsgi.errors\n")
    if case in ("", "errors_partial"):
        environ["wsgi.errors"].write("errors-partial-no-newline")
    if case in ("", "errors_multi"):
        environ["wsgi.errors"].write("multi-1\nmulti-2\n")
    if case in ("", "errors_writelines"):
        environ["wsgi.errors"].writelines(["wl-1\n", "wl-2\n"])
    if case in ("", "logging"):
        logging.getLogger("myapp").warning("via logging %s", "warning")
    if case == "errors_bytes":
        environ["wsgi.errors"].write(b"bytes to wsgi.errors\n")
    if case == "stdin":
        sys.stdin.read()
    info = "stdout=%r stderr=%r errors=%r" % (sys.stdout, sys.stderr, environ["wsgi.errors"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [info.encode()]
