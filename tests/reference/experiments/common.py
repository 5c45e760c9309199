import sys, json, time
import os; sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from harness import ApacheServer
KEYS = ("SCRIPT_NAME","PATH_INFO","REQUEST_URI","QUERY_STRING","PATH_TRANSLATED","SCRIPT_FILENAME","mod_wsgi.application_group","mod_wsgi.script_name","mod_wsgi.path_info","mod_wsgi.request_handler","__module_name__")
def show(srv, path, keys=KEYS, headers=None, raw=False):
    r = srv.get(path, headers=headers)
    print("--- GET %s -> %d %s" % (path, r.status, r.reason))
    if r.status == 200 and r.header('content-type') == 'application/json':
        d = r.json()
        for k in keys:
            print("   %-28s %s" % (k, d[k]['repr'] if k in d else '<absent>'))
        return d
    print("   body:", r.body[:300])
def server(conf, mpm="event", **kw):
    srv = ApacheServer(module="wsgi", config=conf, mpm=mpm, **kw)
    return srv
