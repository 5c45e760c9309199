# Use with WSGICallableObject other (or callable-object=other).
def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"other callable\n"]

application = None
