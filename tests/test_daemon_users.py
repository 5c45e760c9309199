"""Daemon mode: identity and environment of the daemon processes (user,
group, supplementary-groups, umask, home, lang/locale, display-name,
python-path, python-home, cpu-priority and resource limits, stack-size,
python-eggs, switch-interval, script-user), on the shared main_srv.
"""

import grp
import os
import pwd
import re
import stat

import pytest

from daemon_helpers import get_json, proc_cmdline


def test_identity_user_group_supplementary(main_srv):
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    www = pwd.getpwnam("www-data")
    extra = sorted({grp.getgrnam("www-data").gr_gid, grp.getgrnam("adm").gr_gid})
    d = get_json(main_srv, "/ident/info")
    assert (d["uid"], d["euid"]) == (nobody.pw_uid, nobody.pw_uid)
    assert (d["gid"], d["egid"]) == (nogroup.gr_gid, nogroup.gr_gid)
    assert d["groups"] == extra
    # The other group runs as Apache's User at the same time.
    b = get_json(main_srv, "/basic/info")
    assert (b["uid"], b["gid"]) == (www.pw_uid, www.pw_gid)
    assert b["groups"] == [www.pw_gid]  # initgroups(www-data)
    # /proc agrees (real, effective, saved, fs ids).
    with open("/proc/%d/status" % d["pid"]) as f:
        status = f.read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(nobody.pw_uid)] * 4


def test_umask_home_lang_locale(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert d["umask"] == "0027"
    assert d["cwd"] == main_srv.path("home")
    assert d["LANG"] == "C.UTF-8"
    assert d["LC_ALL"] == "C.UTF-8"
    assert d["setlocale"] in ("C.UTF-8", "C.utf8")
    r = main_srv.get("/ident/umaskfile")
    assert r.status == 200
    path = r.text
    try:
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o640
        assert st.st_uid == pwd.getpwnam("nobody").pw_uid
    finally:
        os.unlink(path)
    # Without umask=/home=: Apache's umask and the directory Apache was started
    # in (mod_wsgi's rule; "/" when Apache detaches, as under systemd).
    b = get_json(main_srv, "/basic/info")
    assert b["cwd"] == os.readlink("/proc/%d/cwd" % main_srv.pid)
    assert b["LANG"] == "C"  # inherited from the Apache parent's environment


def test_display_name(main_srv):
    d = get_json(main_srv, "/ident/info")
    cmd = proc_cmdline(d["pid"])
    assert cmd.split(b"\0")[0] == b"rwsgi-ident-test", cmd
    with open("/proc/%d/comm" % d["pid"]) as f:
        assert f.read().strip() == "rwsgi-ident-tes"  # 15 characters
    pids = set()
    for _ in range(20):
        pids.add(get_json(main_srv, "/basic/info")["pid"])
    for pid in pids:
        assert proc_cmdline(pid).split(b"\0")[0] == b"(wsgi:basic)"
    # A group without display-name keeps Apache's command line.
    p = get_json(main_srv, "/plain/info")["pid"]
    assert b"apache2" in proc_cmdline(p)


def test_python_path(main_srv):
    r = main_srv.get("/ident/import")
    assert r.status == 200, r.text
    assert r.text == "pathmod-imported %s" % main_srv.path("pylib", "daemon_pathmod.py")
    d = get_json(main_srv, "/ident/info")
    assert main_srv.path("pylib") in d["path"]
    # Other groups do not get it.
    mark = main_srv.log_mark()
    assert main_srv.get("/basic/import").status == 500
    main_srv.wait_for_log(r"No module named 'daemon_pathmod'", since=mark)


def test_python_home_venv(main_srv, venv_dir):
    d = get_json(main_srv, "/venv/info")
    assert d["prefix"] == venv_dir
    assert d["base_prefix"] == "/usr"
    b = get_json(main_srv, "/basic/info")
    assert b["prefix"] == "/usr"


def test_cpu_priority_and_resource_limits(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert d["priority"] == 5
    assert d["rlimit_data"] == [1073741824, 1073741824]
    assert d["rlimit_as"] == [8589934592, 8589934592]
    soft, hard = d["rlimit_cpu"]
    assert soft == 1000 and hard > soft
    b = get_json(main_srv, "/basic/info")
    assert b["priority"] == 0
    assert b["rlimit_data"][0] != 1073741824


def test_stack_size(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert 262144 <= d["stack_size"] < 262144 + 65536, d["stack_size"]
    default = get_json(main_srv, "/nostack/info")["stack_size"]
    assert default >= 1 << 20, default
    # Deep Python recursion works on the default stack.
    r = main_srv.get("/nostack/recurse?n=20000")
    assert (r.status, r.text) == (200, "20000")


def test_python_eggs_and_switch_interval(main_srv):
    d = get_json(main_srv, "/ident/info")
    assert d["eggs"] == "/tmp/rwsgi-eggs"
    assert d["switch_interval"] == pytest.approx(0.002)
    b = get_json(main_srv, "/basic/info")
    assert b["eggs"] is None
    assert b["switch_interval"] == pytest.approx(0.005)


def test_script_user(main_srv):
    # The scripts are owned by root: script-user=root serves, script-user=nobody refuses (403).
    assert os.stat(main_srv.path("app.wsgi")).st_uid == 0
    r = main_srv.get("/scriptok/pid")
    assert r.status == 200
    mark = main_srv.log_mark()
    r = main_srv.get("/scriptusr/pid")
    assert r.status == 403, (r.status, r.text[:200])
    main_srv.wait_for_log(re.escape(main_srv.path("app.wsgi")), since=mark)
