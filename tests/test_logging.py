"""wsgi.errors, sys.stdout/stderr and logging go to Apache's error log,
tagged [rwsgi:LEVEL] and filtered by LogLevel."""

import pytest

pytestmark = pytest.mark.both_modes  # rerun in daemon mode (see conftest.py)

APP = r"""
import logging, sys
def application(environ, start_response):
    tag = environ["QUERY_STRING"]
    environ["wsgi.errors"].write("errors-line-%s\n" % tag)
    environ["wsgi.errors"].writelines(["multi-a-%s\n" % tag, "multi-b-%s\n" % tag])
    print("printed-%s" % tag)
    sys.stderr.write("stderr-%s\n" % tag)
    logging.getLogger("app").warning("logging-%s", tag)
    environ["wsgi.errors"].write("partial-%s" % tag)
    start_response("200 OK", [])
    return [b"ok"]
"""


def test_streams_reach_the_error_log(apache):
    srv = apache("WSGIScriptAlias /log {root}/log.wsgi", apps={"log.wsgi": APP})
    mark = srv.log_mark()
    assert srv.get("/log?t1").status == 200
    for what in ("errors-line", "multi-a", "multi-b", "partial"):
        line = srv.wait_for_log(r"\[rwsgi:error\].*\[client 127\.0\.0\.1:\d+\] %s-t1$" % what, since=mark)
        assert line
    for what in ("printed", "stderr", "logging"):
        srv.wait_for_log(r"\[rwsgi:error\].* %s-t1$" % what, since=mark)
    srv.wait_for_log(r"\[rwsgi:info\].*Loading Python script file '.*log\.wsgi'", since=mark)


def test_loglevel_filters_module_messages(apache):
    srv = apache("WSGIScriptAlias /log {root}/log.wsgi", apps={"log.wsgi": APP}, loglevel="info rwsgi:crit")
    assert srv.get("/log?t2").status == 200
    # The request has finished; give the log a moment, then nothing may have appeared.
    srv.get("/log?t2b")
    log = srv.error_log()
    assert "errors-line-t2" not in log and "printed-t2" not in log and "Loading Python script" not in log
    assert "[rwsgi:" not in log
