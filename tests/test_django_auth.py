"""Django's documented Apache authentication ("Authenticating against
Django's user database from Apache"): `AuthBasicProvider wsgi` with
`WSGIAuthUserScript` pointing at the project's wsgi.py, whose
`check_password` is `django.contrib.auth.handlers.modwsgi.check_password`.
The configuration is tests/configs/django-auth.conf; Django is installed
from PyPI into a virtual environment under /tmp (readable by www-data), with
a user in a SQLite database."""

import base64
import os
import shutil
import subprocess
import sys

import pytest

import harness
from harness import make_world_readable_dir

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
AUTH_MODULES = [
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
]

# The wsgi.py of Django's page, literally. With Django >= 1.7 importing the
# auth handler before the app registry is ready fails (in mod_wsgi too), so
# sites set Django up first, as WSGI_PY does.
DOCUMENTED_WSGI_PY = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django.contrib.auth.handlers.modwsgi import check_password

from django.core.handlers.wsgi import WSGIHandler
application = WSGIHandler()
"""

WSGI_PY = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()

from django.contrib.auth.handlers.modwsgi import check_password
"""

URLS_PY = """
from django.http import HttpResponse
from django.urls import path


def secret(request):
    return HttpResponse("secret for %s" % request.META.get("REMOTE_USER"))


urlpatterns = [path("secret/", secret)]
"""


@pytest.fixture(scope="module")
def django_site():
    venv = os.environ.get("RWSGI_DJANGO_VENV") or "/tmp/rwsgi-django-venv"
    python = os.path.join(harness.pip_venv(venv, ["django"], ["django"]), "bin", "python")
    root = make_world_readable_dir(prefix="rwsgi-django-")
    subprocess.run([os.path.join(venv, "bin", "django-admin"), "startproject", "mysite", root], check=True)
    with open(os.path.join(root, "mysite", "wsgi.py"), "w") as f:
        f.write(WSGI_PY)
    with open(os.path.join(root, "mysite", "urls.py"), "w") as f:
        f.write(URLS_PY)
    settings = os.path.join(root, "mysite", "settings.py")
    with open(settings, "a") as f:
        f.write("\nALLOWED_HOSTS = ['*']\nDEBUG = False\n")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mysite.settings", PYTHONPATH=root)
    subprocess.run([python, os.path.join(root, "manage.py"), "migrate", "-v", "0"], check=True, env=env, cwd=root)
    create = (
        "from django.contrib.auth.models import User;"
        "User.objects.create_user('alice', password='correct horse');"
        "u = User.objects.create_user('mallory', password='inactive pw'); u.is_active = False; u.save()"
    )
    subprocess.run([python, os.path.join(root, "manage.py"), "shell", "-c", create], check=True, env=env, cwd=root)
    subprocess.run(["chmod", "-R", "a+rwX", root], check=True)
    yield root, venv
    if os.environ.get("RWSGI_TEST_KEEP") != "1":
        shutil.rmtree(root, ignore_errors=True)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def django_server(apache, django_site, wsgi_py):
    root, venv = django_site
    with open(os.path.join(root, "mysite", "wsgi.py"), "w") as f:
        f.write(wsgi_py)
    with open(os.path.join(CONFIGS, "django-auth.conf")) as f:
        config = f.read().replace("{root}", root).replace("{venv}", venv)
    return apache(config=config, extra_modules=AUTH_MODULES, mode="embedded")


def test_django_apache_auth(apache, django_site):
    srv = django_server(apache, django_site, WSGI_PY)
    r = srv.get("/secret/")
    assert r.status == 401
    assert 'realm="Top Secret"' in r.header("WWW-Authenticate")
    r = srv.get("/secret/", headers=basic("alice", "correct horse"))
    assert (r.status, r.body) == (200, b"secret for alice")
    assert srv.get("/secret/", headers=basic("alice", "wrong")).status == 401
    # Unknown and inactive users: check_password returns None.
    assert srv.get("/secret/", headers=basic("nobody", "x")).status == 401
    assert srv.get("/secret/", headers=basic("mallory", "inactive pw")).status == 401
    # Outside /secret no credentials are asked for.
    assert srv.get("/").status == 404


def test_django_documented_wsgi_py_fails_as_with_mod_wsgi(apache, django_site):
    srv = django_server(apache, django_site, DOCUMENTED_WSGI_PY)
    assert srv.get("/secret/").status == 401
    assert srv.get("/secret/", headers=basic("alice", "correct horse")).status == 500
    assert srv.wait_for_log(r"AppRegistryNotReady: Apps aren't loaded yet")
