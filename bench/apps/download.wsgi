from urllib.parse import parse_qs

CHUNK = b"d" * 65536


def application(environ, start_response):
    # Streams ?mib= MiB (default 1024) in 64 KiB pieces, never holding more.
    mib = int(parse_qs(environ.get("QUERY_STRING", "")).get("mib", ["1024"])[0])
    pieces = mib * 16
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(pieces * len(CHUNK)))])
    return (CHUNK for _ in range(pieces))
