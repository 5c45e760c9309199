"""Answers with the pid of the process that served the request, after
sleeping ?ms= milliseconds (so requests are in flight when a fault hits)."""

import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    ms = int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
    if ms:
        time.sleep(min(ms, 1000) / 1000.0)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
