"""Answers after ?seconds=N (default 3): a request still in flight."""

import time
import urllib.parse


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    seconds = float(query.get("seconds", ["3"])[0])
    time.sleep(seconds)
    body = b"slept %.1f\n" % seconds
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
