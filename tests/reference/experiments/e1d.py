from common import *
srv = server("WSGIScriptAlias /app {root}/env.wsgi")
srv.copy_app("environ_dump.wsgi", "env.wsgi"); srv.start()
try:
    show(srv, "/app/%7Ez/caf%C3%A9?a=%20b&c=%C3%A9", keys=("SCRIPT_NAME","PATH_INFO","REQUEST_URI","QUERY_STRING","PATH_TRANSLATED"))
    show(srv, "/app/a%20b/./c/../d", keys=("SCRIPT_NAME","PATH_INFO","REQUEST_URI"))
    show(srv, "/ap%70/x", keys=("SCRIPT_NAME","PATH_INFO","REQUEST_URI"))
    show(srv, "/app//x", keys=("SCRIPT_NAME","PATH_INFO","REQUEST_URI"))
    show(srv, "/appx", keys=("SCRIPT_NAME","PATH_INFO","REQUEST_URI"))
finally: srv.cleanup()
