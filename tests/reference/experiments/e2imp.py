from common import *
import re, sys
srv = server("""
WSGIScriptAlias /missing {root}/missing.wsgi
WSGIScriptAlias /syntax {root}/import_syntax_error.wsgi
WSGIScriptAlias /raises {root}/import_raises.wsgi
WSGIScriptAlias /noapp {root}/no_application.wsgi
WSGIScriptAlias /other1 {root}/callable_other.wsgi
WSGIScriptAlias /other2 {root}/callable_other2.wsgi callable-object=other
<Location /other1>
WSGICallableObject other
</Location>
WSGIScriptAlias /dirmissing/ {root}/nodir/
""")
for n in ["import_syntax_error.wsgi","import_raises.wsgi","no_application.wsgi","callable_other.wsgi"]:
    srv.copy_app(n)
srv.copy_app("callable_other.wsgi", "callable_other2.wsgi")
srv.start()
def short(l):
    return re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")
try:
    for p in ["/missing", "/missing/x", "/syntax", "/syntax", "/raises", "/raises", "/noapp", "/other1", "/other2", "/dirmissing/a.wsgi"]:
        mark = srv.log_mark()
        r = srv.get(p)
        time.sleep(0.2)
        print("==== %s -> %d %s %r" % (p, r.status, r.reason, r.body[:60]))
        for l in srv.error_log(mark).splitlines(): print("    LOG: " + short(l))
finally: srv.cleanup()
