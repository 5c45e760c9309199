BODY = bytes(range(256)) * 4096  # 1 MiB


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BODY)))])
    return [BODY]
