"""Process-wide Python configuration: WSGIPython* directives, stdio restriction,
sys attributes, C extensions, and refusal of bad values at config-test time.
"""

import os
import shutil
import subprocess
import sys

import pytest

from harness import ApacheServer, make_world_readable_dir, write_world_readable

PYVER = "python%d.%d" % sys.version_info[:2]

INFO_APP = r'''
import json
import os
import subprocess
import sys


def has_asserts():
    try:
        assert False, "asserts are on"
    except AssertionError:
        return True
    return False


def documented():
    """a docstring"""


def application(environ, start_response):
    case = environ.get("QUERY_STRING", "")
    status = "200 OK"
    if case == "info":
        info = {
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "executable": sys.executable,
            "argv": sys.argv,
            "path": sys.path,
            "optimize": sys.flags.optimize,
            "asserts": has_asserts(),
            "docstring": documented.__doc__,
            "hash_randomization": sys.flags.hash_randomization,
            "hash_abc": hash("abc"),
            "dont_write_bytecode": sys.dont_write_bytecode,
            "pid": os.getpid(),
        }
    elif case.startswith("import="):
        info = {}
        for name in case[len("import="):].split(","):
            try:
                mod = __import__(name)
                info[name] = [getattr(mod, "ORIGIN", None), getattr(mod, "__file__", None),
                              getattr(mod, "ASSERTS", None)]
            except Exception as e:
                info[name] = "raised %s: %s" % (type(e).__name__, e)
    elif case == "cext":
        import _ctypes, _decimal, _posixsubprocess, ctypes, decimal
        r = subprocess.run(["true"])
        py = subprocess.run([sys.executable, "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, timeout=20)
        info = {
            "decimal": str(decimal.Decimal(1) / decimal.Decimal(8)),
            "decimal_c": decimal.Decimal.__module__ == "decimal" and hasattr(_decimal, "__version__"),
            "ctypes": ctypes.c_int(42).value,
            "strlen": ctypes.CDLL(None).strlen(b"hello"),
            "true_rc": r.returncode,
            "child_python_prefix": py.stdout.strip(),
            "child_python_rc": py.returncode,
        }
    elif case == "print":
        print("PRINTED-MARKER from the app")
        sys.stdout.flush()
        info = {"printed": True}
    elif case == "stdin":
        try:
            data = sys.stdin.read()
            info = {"stdin": "read %r" % (data,)}
        except OSError as e:
            info = {"stdin": "OSError: %s" % e}
    else:
        raise KeyError(case)
    body = json.dumps(info).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]
'''

MOD_TEMPLATE = '''
ORIGIN = %r
try:
    assert False
    ASSERTS = False
except AssertionError:
    ASSERTS = True
'''


def server(module_under_test, default_mpm, config, **kw):
    s = ApacheServer(module=module_under_test, mpm=kw.pop("mpm", default_mpm), config=config,
                     apps={"info.wsgi": INFO_APP}, **kw)
    return s


@pytest.fixture(scope="module")
def venv():
    """A venv made by the system python, without pip, with one module of its own."""
    d = make_world_readable_dir(prefix="rwsgi-venv-")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", d], check=True, timeout=60)
    site = os.path.join(d, "lib", PYVER, "site-packages")
    write_world_readable(os.path.join(site, "venv_only_mod.py"), MOD_TEMPLATE % "venv")
    subprocess.run(["chmod", "-R", "a+rX", d], check=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def dirs():
    """Two WSGIPythonPath dirs (the first world-writable, to see whether
    __pycache__ gets written), plus a dir only reachable via a .pth file."""
    base = make_world_readable_dir(prefix="rwsgi-pypath-")
    d1, d2, d3, d4 = (os.path.join(base, n) for n in ("one", "two", "viapth", "writable"))
    write_world_readable(os.path.join(d1, "path_one_mod.py"), MOD_TEMPLATE % "one")
    write_world_readable(os.path.join(d1, "bytecode_a_mod.py"), MOD_TEMPLATE % "bytecode-a")
    os.chmod(d1, 0o777)
    write_world_readable(os.path.join(d2, "path_two_mod.py"), MOD_TEMPLATE % "two")
    write_world_readable(os.path.join(d2, "extra.pth"), d3 + "\n")
    write_world_readable(os.path.join(d3, "pth_mod.py"), MOD_TEMPLATE % "pth")
    write_world_readable(os.path.join(d4, "bytecode_b_mod.py"), MOD_TEMPLATE % "bytecode-b")
    os.chmod(d4, 0o777)
    yield {"one": d1, "two": d2, "pth": d3, "writable": d4}
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def venv_srv(module_under_test, default_mpm, venv, dirs):
    """WSGIPythonHome=venv, WSGIPythonPath, optimize 1, no bytecode, stdout free."""
    s = server(
        module_under_test,
        default_mpm,
        """
        WSGIPythonHome %s
        WSGIPythonPath %s:%s
        WSGIPythonOptimize 1
        WSGIDontWriteBytecode On
        WSGIRestrictStdout Off
        WSGILazyInitialization On
        WSGIScriptAlias /app {root}/info.wsgi
        """ % (venv, dirs["one"], dirs["two"]),
    )
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


@pytest.fixture(scope="module")
def restricted_srv(module_under_test, default_mpm, dirs):
    """System python, optimize 2, stdout and stdin restricted, bytecode written."""
    s = server(
        module_under_test,
        default_mpm,
        """
        WSGIPythonPath %s
        WSGIPythonOptimize 2
        WSGIRestrictStdout On
        WSGIRestrictStdin On
        WSGILazyInitialization Off
        WSGIScriptAlias /app {root}/info.wsgi
        """ % dirs["writable"],
    )
    with s:  # starts; at teardown stops, checks the error log, cleans up
        yield s


def get_json(srv, query):
    r = srv.get("/app?" + query)
    assert r.status == 200, (r.status, r.body[:300], srv.error_log()[-3000:])
    return r.json()


# ---- WSGIPythonHome / WSGIPythonPath ---------------------------------------------------


def test_python_home_venv(venv_srv, venv):
    info = get_json(venv_srv, "info")
    assert info["prefix"] == venv
    assert info["base_prefix"] == "/usr"
    assert os.path.join(venv, "lib", PYVER, "site-packages") in info["path"]
    # sys.executable is a real python: the venv's own (which runs with the venv's prefix)
    assert os.path.realpath(info["executable"]) == os.path.realpath("/usr/bin/python3")
    assert info["executable"] in (os.path.join(venv, "bin", "python3"), os.path.join(venv, "bin", "python"))
    mods = get_json(venv_srv, "import=venv_only_mod")
    assert mods["venv_only_mod"][0] == "venv"
    assert mods["venv_only_mod"][1].startswith(venv + "/")


def test_python_path_and_pth(venv_srv, dirs):
    mods = get_json(venv_srv, "import=path_one_mod,path_two_mod,pth_mod")
    assert mods["path_one_mod"][:2] == ["one", os.path.join(dirs["one"], "path_one_mod.py")]
    assert mods["path_two_mod"][:2] == ["two", os.path.join(dirs["two"], "path_two_mod.py")]
    assert mods["pth_mod"][:2] == ["pth", os.path.join(dirs["pth"], "pth_mod.py")]
    path = get_json(venv_srv, "info")["path"]
    assert path.index(dirs["one"]) < path.index(dirs["two"])
    assert dirs["pth"] in path


# ---- WSGIPythonOptimize -----------------------------------------------------------


def test_optimize_1(venv_srv):
    info = get_json(venv_srv, "info")
    assert info["optimize"] == 1
    assert info["asserts"] is False  # in the WSGI script itself
    assert info["docstring"] == "a docstring"  # only level 2 strips docstrings
    mods = get_json(venv_srv, "import=path_two_mod")
    assert mods["path_two_mod"][2] is False  # and in imported modules


def test_optimize_2(restricted_srv):
    info = get_json(restricted_srv, "info")
    assert info["optimize"] == 2
    assert info["asserts"] is False
    assert info["docstring"] is None
    mods = get_json(restricted_srv, "import=bytecode_b_mod")
    assert mods["bytecode_b_mod"][2] is False


def test_default_no_optimize(apache):
    srv = apache("WSGIScriptAlias /app {root}/info.wsgi", apps={"info.wsgi": INFO_APP})
    info = get_json(srv, "info")
    assert info["optimize"] == 0
    assert info["asserts"] is True
    assert info["prefix"] == "/usr"
    assert info["dont_write_bytecode"] is False
    assert info["hash_randomization"] == 1


# ---- WSGIDontWriteBytecode ----------------------------------------------------------


def test_dont_write_bytecode(venv_srv, dirs):
    info = get_json(venv_srv, "info")
    assert info["dont_write_bytecode"] is True
    mods = get_json(venv_srv, "import=bytecode_a_mod")
    assert mods["bytecode_a_mod"][0] == "bytecode-a"
    assert not os.path.exists(os.path.join(dirs["one"], "__pycache__"))


def test_bytecode_written_without_directive(restricted_srv, dirs):
    # Control for the test above: the same kind of import does write bytecode
    # (the directory is writable by www-data).
    info = get_json(restricted_srv, "info")
    assert info["dont_write_bytecode"] is False
    mods = get_json(restricted_srv, "import=bytecode_b_mod")
    assert mods["bytecode_b_mod"][0] == "bytecode-b"
    cache = os.path.join(dirs["writable"], "__pycache__")
    assert os.path.isdir(cache) and any(n.startswith("bytecode_b_mod.") for n in os.listdir(cache))


# ---- WSGIPythonHashSeed ---------------------------------------------------------------


def test_hash_seed(apache):
    expected = int(
        subprocess.run(
            ["/usr/bin/python3", "-c", "print(hash('abc'))"],
            env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=True,
        ).stdout
    )
    srv = apache(
        """
        WSGIPythonHashSeed 123
        WSGIScriptAlias /app {root}/info.wsgi
        """,
        apps={"info.wsgi": INFO_APP},
        mpm="prefork",
    )
    seen = {}
    for _ in range(6):
        info = get_json(srv, "info")
        seen[info["pid"]] = info
    old_children = set(srv.child_pids())
    srv.graceful()
    for _ in range(6):
        info = get_json(srv, "info")
        seen[info["pid"]] = info
    assert set(seen) - old_children, "no request served by a post-restart child"
    assert len(seen) >= 2
    for pid, info in seen.items():
        assert info["hash_abc"] == expected, (pid, info["hash_abc"], expected)
        assert info["hash_randomization"] == 1  # as with PYTHONHASHSEED=123


def test_hash_seed_zero_disables_randomization(apache):
    expected = int(
        subprocess.run(
            ["/usr/bin/python3", "-c", "print(hash('abc'))"],
            env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=True,
        ).stdout
    )
    srv = apache("WSGIPythonHashSeed 0\nWSGIScriptAlias /app {root}/info.wsgi", apps={"info.wsgi": INFO_APP})
    info = get_json(srv, "info")
    assert info["hash_randomization"] == 0
    assert info["hash_abc"] == expected


# ---- WSGIRestrictStdout / WSGIRestrictStdin ---------------------------------------------


def test_restrict_stdout_off_prints_to_error_log(venv_srv):
    mark = venv_srv.log_mark()
    assert get_json(venv_srv, "print") == {"printed": True}
    venv_srv.wait_for_log(r"\[%s:error\].*PRINTED-MARKER from the app" % venv_srv.module_short, since=mark)


def test_restrict_stdout_on(restricted_srv):
    mark = restricted_srv.log_mark()
    r = restricted_srv.get("/app?print")
    assert r.status == 500
    restricted_srv.wait_for_log(r"OSError: sys\.stdout access restricted by mod_r?wsgi", since=mark)
    assert restricted_srv.log_lines(r"Traceback", since=mark)
    # the text itself never reached the log (only the traceback's source line)
    assert not restricted_srv.log_lines(r"\] PRINTED-MARKER", since=mark)


def test_restrict_stdin_on(restricted_srv):
    info = get_json(restricted_srv, "stdin")
    assert info["stdin"].startswith("OSError: sys.stdin access restricted by mod_")


# ---- sys attributes, C extensions ----------------------------------------------------------


def test_sys_argv_and_executable(restricted_srv):
    info = get_json(restricted_srv, "info")
    assert info["argv"] == ["mod_wsgi"]
    assert os.path.realpath(info["executable"]) == os.path.realpath("/usr/bin/python3")
    assert info["prefix"] == "/usr"


@pytest.mark.parametrize("which", ["system", "venv"])
def test_c_extensions_and_subprocess(which, restricted_srv, venv_srv, venv):
    srv = restricted_srv if which == "system" else venv_srv
    info = get_json(srv, "cext")
    assert info["decimal"] == "0.125"
    assert info["decimal_c"] is True
    assert info["ctypes"] == 42
    assert info["strlen"] == 5
    assert info["true_rc"] == 0
    assert info["child_python_rc"] == 0
    # sys.executable started as a child runs with the same prefix
    assert info["child_python_prefix"] == ("/usr" if which == "system" else venv)


# ---- refused configurations --------------------------------------------------------------


@pytest.mark.parametrize(
    "config, directive",
    [
        ("WSGIPythonOptimize 3", "WSGIPythonOptimize"),
        ("WSGIPythonOptimize -1", "WSGIPythonOptimize"),
        ("WSGIPythonHashSeed abc", "WSGIPythonHashSeed"),
        ("<VirtualHost 127.0.0.1:{port}>\n    WSGIPythonHome /usr\n</VirtualHost>", "WSGIPythonHome"),
        ("<VirtualHost 127.0.0.1:{port}>\n    WSGIPythonPath /tmp\n</VirtualHost>", "WSGIPythonPath"),
    ],
)
def test_bad_values_refused(apache, config, directive):
    # mod_wsgi 4.9.4 accepts WSGIPythonOptimize 3 and -1 silently (Python then
    # runs with a level it does not define); refusing them is stricter on purpose.
    srv = apache(config, start=False)
    rc, out = srv.config_test()
    assert rc != 0, out
    assert directive in out
    assert "Syntax OK" not in out


def test_lazy_initialization_accepted(apache):
    for value in ("On", "Off"):
        srv = apache("WSGILazyInitialization %s\nWSGIScriptAlias /app {root}/x.wsgi" % value, start=False)
        assert srv.config_test() == (0, "Syntax OK\n")
