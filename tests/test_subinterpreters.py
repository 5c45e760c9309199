"""Application groups as Python sub-interpreters (issue 11): %{GLOBAL} is the
main interpreter, every other group (by default %{RESOURCE}: host, port and
mount point) an interpreter of its own in each process, in both modes."""

import json

import pytest

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

# An app that imports a module called `config` from its own directory.
CONFIG_APP = """
import json, os, sys, threading, mod_wsgi
sys.path.insert(0, os.path.dirname(__file__))
import config
local = threading.local()
counter = [0]
def application(environ, start_response):
    counter[0] += 1
    local.n = getattr(local, "n", 0) + 1
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"config": config.NAME, "group": environ["mod_wsgi.application_group"],
                        "module_group": mod_wsgi.application_group, "modules": id(sys.modules),
                        "counter": counter[0], "local": local.n, "pid": os.getpid()}).encode()]
"""


def two_apps(srv, extra=""):
    for name in ("one", "two"):
        srv.write_file("%s/config.py" % name, "NAME = %r\n" % name)
        srv.write_file("%s/app.wsgi" % name, CONFIG_APP)


def test_two_apps_each_see_their_own_config_module(apache):
    srv = apache("WSGIScriptAlias /one {root}/one/app.wsgi\nWSGIScriptAlias /two {root}/two/app.wsgi\n", start=False)
    two_apps(srv)
    srv.start()
    for _ in range(3):
        one, two = srv.get("/one").json(), srv.get("/two").json()
        assert one["config"] == "one" and two["config"] == "two"
        host = one["group"].split("|")[0]
        assert one["group"] == host + "|/one" and two["group"] == host + "|/two"
        assert one["module_group"] == one["group"] and two["module_group"] == two["group"]
        if one["pid"] == two["pid"]:
            assert one["modules"] != two["modules"]
