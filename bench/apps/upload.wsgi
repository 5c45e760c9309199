def application(environ, start_response):
    # Reads the body as a streaming application does: read(65536) until it ends.
    read = environ["wsgi.input"].read
    total = 0
    while True:
        chunk = read(65536)
        if not chunk:
            break
        total += len(chunk)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
