from common import *
cases = [
 "WSGIScriptAlias /app {root}/a.wsgi foo=bar",
 "WSGIScriptAlias /app {root}/a.wsgi process-group=nosuch",
 "WSGIScriptAlias /app {root}/a.wsgi application-group=",
 "WSGIScriptAlias /app",
 "WSGIScriptAlias",
 "WSGIScriptAlias /app {root}/a.wsgi application-group=x application-group=y",
 "WSGIPythonOptimize 3",
 "WSGIPythonOptimize abc",
 "WSGIPythonOptimize 2",
 "WSGIPythonHashSeed abc",
 "WSGIPythonHashSeed 5",
 "WSGIPythonHashSeed random",
 "WSGIChunkedRequest maybe",
 "WSGIChunkedRequest",
 "WSGIApplicationGroup",
 "WSGIApplicationGroup a b",
 "WSGIPassAuthorization maybe",
 "WSGIScriptReloading maybe",
 "WSGICallableObject",
 "WSGIRestrictEmbedded On",
 "<Location /x>\nWSGIPythonOptimize 1\n</Location>",
 "<Directory /tmp>\nWSGIScriptAlias /x /tmp/x.wsgi\n</Directory>",
 "WSGINoSuchDirective 1",
 "WSGIDaemonProcess",
 "WSGIDaemonProcess grp processes=0",
 "WSGIDaemonProcess grp foo=bar",
 "WSGIProcessGroup",
 "WSGIImportScript {root}/a.wsgi",
 "WSGIImportScript {root}/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
 "WSGIImportScript {root}/a.wsgi process-group=nosuch application-group=%{GLOBAL}",
 "WSGIScriptAliasMatch ^/x(.*) {root}/a.wsgi",
 "WSGIScriptAliasMatch ^/x(.* {root}/a.wsgi",
 "WSGIPythonPath /tmp:/var/tmp",
 "WSGIPythonHome /nonexistent",
 "WSGISocketPrefix",
 "WSGIAcceptMutex default",
]
for c in cases:
    srv = server(c, apps={"a.wsgi": "def application(e, s):\n    s('200 OK', []); return [b'']\n"})
    rc, out = srv.config_test()
    print("=== %s\n    rc=%d: %s" % (c.replace("\n", " ; ").replace("{root}", "$R"), rc, out.strip().replace(srv.root, "$R").replace("\n", "\n        ")))
    srv.cleanup()
