from common import *
import re
for c in ["WSGIScriptAlias /app {root}/env.wsgi process-group=nosuch", "WSGIScriptAlias /app {root}/env.wsgi\nWSGIPythonOptimize 3", "WSGIScriptAlias /app {root}/env.wsgi\nWSGIPythonOptimize abc", "WSGIScriptAlias /app {root}/env.wsgi\nWSGIPythonHome /nonexistent"]:
    srv = server(c); srv.copy_app("environ_dump.wsgi", "env.wsgi")
    print("===", c.replace("\n", " ; "))
    try:
        srv.start(timeout=8)
        try:
            r = srv.get("/app", timeout=5); print("   ", r.status, r.reason)
            if r.status == 200: d = r.json(); print("    sys.flags.optimize? ", d.get("__python_version__"))
        except Exception as e: print("    request EXC", e)
        time.sleep(0.3)
        for l in srv.error_log().splitlines():
            if ("wsgi:" in l and "Create interp" not in l and "Loading" not in l and "Attach" not in l and "Initializing" not in l) or "signal" in l: print("    LOG:", re.sub(r"^\[[^\]]+\] ", "", l).replace(srv.root, "$R")[:300])
    except Exception as e: print("    start EXC", str(e)[-1500:])
    finally: srv.cleanup()
