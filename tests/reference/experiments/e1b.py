from common import *
srv = server("""
WSGIScriptAlias / {root}/env.wsgi
""")
srv.copy_app("environ_dump.wsgi", "env.wsgi"); srv.start()
try:
    show(srv, "/"); show(srv, "/x"); show(srv, "/x/"); show(srv, "//a//b")
finally: srv.cleanup()
print("######## directory alias")
srv = server("""
WSGIScriptAlias /dir/ {root}/scripts/
""")
srv.copy_app("environ_dump.wsgi", "scripts/env.wsgi"); srv.start()
try:
    show(srv, "/dir/env.wsgi"); show(srv, "/dir/env.wsgi/more"); show(srv, "/dir/"); show(srv, "/dir/nothere.wsgi"); show(srv, "/dir")
finally: srv.cleanup()
print("######## AddHandler + ExecCGI")
srv = server("""
Alias /h {root}/h
<Directory {root}/h>
  Options +ExecCGI
  AddHandler wsgi-script .wsgi
</Directory>
Alias /n {root}/n
<Directory {root}/n>
  AddHandler wsgi-script .wsgi
</Directory>
""")
srv.copy_app("environ_dump.wsgi", "h/env.wsgi"); srv.copy_app("environ_dump.wsgi", "n/env.wsgi"); srv.start()
try:
    show(srv, "/h/env.wsgi"); show(srv, "/h/env.wsgi/more?z=1"); show(srv, "/n/env.wsgi")
    print(srv.error_log()[-1500:])
finally: srv.cleanup()
