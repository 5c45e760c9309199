from common import *
H = {"X_Foo": "1", "X-Bar": "2", "Authorization": "Basic dXNlcjpwdw==", "Proxy": "evil", "Content-Type": "text/x", "Cookie":"a=1", "X-Dup": "a"}
def hdrkeys(d): return {k: d[k]['repr'] for k in d if k.startswith("HTTP_") or k in ("CONTENT_TYPE","CONTENT_LENGTH","REMOTE_USER","AUTH_TYPE")}
for conf in ["WSGIScriptAlias /app {root}/env.wsgi",
             "WSGIScriptAlias /app {root}/env.wsgi\nWSGIPassAuthorization On",
             "WSGIScriptAlias /app {root}/env.wsgi\nWSGIApplicationGroup %{GLOBAL}",
             "WSGIScriptAlias /app {root}/env.wsgi application-group=grp1",
             "WSGIScriptAlias /app {root}/env.wsgi\nWSGIApplicationGroup %{SERVER}",
             "WSGIScriptAlias /app {root}/env.wsgi\nWSGIApplicationGroup %{RESOURCE}",
             "WSGIScriptAlias /app {root}/env.wsgi\nWSGIApplicationGroup %{ENV:FOO}\nSetEnv FOO bar",
             ]:
    srv = server(conf, extra_modules=[("env_module","mod_env.so")])
    srv.copy_app("environ_dump.wsgi", "env.wsgi"); srv.start()
    try:
        print("#####", conf.replace("\n"," ; "))
        d = show(srv, "/app/p", headers=H, keys=("mod_wsgi.application_group","__module_name__"))
        print("  ", hdrkeys(d))
        # raw duplicate headers
        r = srv.request("GET", "/app/p", raw=True, headers={"X-Dup": "a\r\nX-Dup: b\r\nX-Under_score: u\r\nX-Dash-Score: d"})
        import json; dd = json.loads(r.body); print("   dup:", {k: dd[k]['repr'] for k in dd if k.startswith("HTTP_X")})
    finally: srv.cleanup()
for mpm in ["prefork","worker"]:
    srv = server("WSGIScriptAlias /app {root}/env.wsgi", mpm=mpm)
    srv.copy_app("environ_dump.wsgi", "env.wsgi"); srv.start()
    try:
        print("#####", mpm); show(srv, "/app", keys=("wsgi.multithread","wsgi.multiprocess","mod_wsgi.thread_id","mod_wsgi.total_requests"))
        show(srv, "/app", keys=("wsgi.multithread","wsgi.multiprocess","mod_wsgi.thread_id","mod_wsgi.thread_requests","mod_wsgi.total_requests"))
    finally: srv.cleanup()
# event: counters
srv = server("WSGIScriptAlias /app {root}/env.wsgi"); srv.copy_app("environ_dump.wsgi", "env.wsgi"); srv.start()
try:
    for i in range(3): show(srv, "/app", keys=("mod_wsgi.thread_id","mod_wsgi.thread_requests","mod_wsgi.total_requests","mod_wsgi.request_id"))
    r = srv.request("POST", "/app", body=b"abc", headers={"Content-Type":"application/x-www-form-urlencoded"}); d=r.json(); print({k: d[k]['repr'] for k in ("CONTENT_LENGTH","CONTENT_TYPE","REQUEST_METHOD")})
    r = srv.request("GET", "/app", raw=True, headers={"Host":"example.com:8080"}); import json; d=json.loads(r.body); print({k: d[k]['repr'] for k in ("SERVER_NAME","SERVER_PORT","HTTP_HOST","mod_wsgi.application_group")})
    r = srv.raw_request(b"GET /app HTTP/1.0\r\n\r\n"); d=json.loads(r.split(b"\r\n\r\n",1)[1]); print({k: d[k]['repr'] for k in ("SERVER_NAME","SERVER_PORT","SERVER_PROTOCOL","mod_wsgi.application_group") if k in d}, [k for k in d if k.startswith("HTTP")])
finally: srv.cleanup()
