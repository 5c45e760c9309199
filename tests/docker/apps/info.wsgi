"""Reports the process the request ran in, as JSON."""

import json
import os
import pwd

import mod_wsgi


def application(environ, start_response):
    body = json.dumps({
        "pid": os.getpid(),
        "uid": os.getuid(),
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "process_group": mod_wsgi.process_group,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
