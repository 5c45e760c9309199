"""Readiness URL of the mod_rwsgi image: 200 while the server takes traffic.

It answers 503 once /run/rwsgi-drain exists, so a load balancer (HAProxy's
health check, a Kubernetes readinessProbe) stops sending new requests before
the container is stopped: `docker exec CONTAINER touch /run/rwsgi-drain`.
"""

import os

DRAIN_FILE = "/run/rwsgi-drain"


def application(environ, start_response):
    if os.path.exists(DRAIN_FILE):
        status, body = "503 Service Unavailable", b"draining\n"
    else:
        status, body = "200 OK", b"ready\n"
    start_response(status, [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ])
    return [body]
