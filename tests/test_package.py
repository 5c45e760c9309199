"""The Debian package (scripts/package.sh): lintian, its contents and relations,
and its life in a clean Debian 12 container (the debootstrap base image of
docker/build.sh): apt-get install from nothing, a2enmod, configtest, a served
WSGI site, an upgrade under load with no failed request, and a purge that
leaves nothing behind.

The "previous version" of the upgrade is this checkout packaged again with a
lower version (RWSGI_DEB_VERSION=<version>~prev): what is tested is what dpkg
and the maintainer scripts do to a running server when the package changes.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

import dockerlib
from dockerlib import Container, Load, get, run, wait_until

PKG = "libapache2-mod-rwsgi"


def control_field(deb, field):
    return run("dpkg-deb", "-f", deb, field).stdout.strip()


@pytest.fixture(scope="module")
def deb():
    return dockerlib.package()


def test_lintian_reports_no_errors(deb):
    if shutil.which("lintian") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("lintian is not installed (scripts/test.sh installs it)")
        pytest.skip("lintian is not installed")
    p = run("lintian", "--fail-on", "error", "--display-level", ">=info", deb, check=False)
    tags = [l for l in p.stdout.splitlines() if re.match(r"^[EWIXPO]: ", l)]
    errors = [l for l in tags if l.startswith("E: ")]
    assert p.returncode == 0 and errors == [], p.stdout + p.stderr
    print("lintian:", "\n".join(tags) or "no tags")


def test_contents_and_relations(deb):
    files = run("dpkg-deb", "-c", deb).stdout
    for path in ("./usr/lib/apache2/modules/mod_rwsgi.so", "./etc/apache2/mods-available/rwsgi.load",
                 "./etc/apache2/mods-available/rwsgi.conf", "./usr/share/doc/%s/copyright" % PKG,
                 "./usr/share/doc/%s/changelog.Debian.gz" % PKG):
        assert re.search(r"^-rw-r--r-- root/root .* %s$" % re.escape(path), files, re.M), (path, files)
    if os.path.exists(os.path.join(dockerlib.REPO_ROOT, "target", "release", "rwsgi-express")):
        assert "./usr/bin/rwsgi-express" in files and "./usr/share/man/man1/rwsgi-express.1.gz" in files
    # The Apache module API it was built for, as Debian's apache2-bin provides it.
    provides = run("dpkg-query", "-W", "-f", "${Provides}", "apache2-bin").stdout
    api = re.search(r"apache2-api-\d+\b(?!-)", provides).group(0)
    depends = control_field(deb, "Depends")
    assert api in [d.strip() for d in depends.split(",")], depends
    assert re.search(r"\blibpython3\.11 \(>= [^)]+\)", depends), depends
    assert "python3 (>= 3.11)" in depends and "python3 (<< 3.12)" in depends
    # Co-installable with mod_wsgi (no package-level Conflicts); the module-level
    # conflict is in rwsgi.load, which a2enmod honours.
    assert PKG not in control_field(deb, "Conflicts")
    assert "libapache2-mod-wsgi-py3" not in control_field(deb, "Conflicts")
    conffiles = run("sh", "-c", "dpkg-deb --ctrl-tarfile %s | tar -xO ./conffiles" % deb).stdout.split()
    assert conffiles == ["/etc/apache2/mods-available/rwsgi.conf", "/etc/apache2/mods-available/rwsgi.load"]


# The example application embedded at / and in a daemon group at /daemon/,
# with the socket names kept across the upgrade's graceful restart (the
# setting rwsgi.conf suggests for daemon groups).
SITE = """\
WSGISocketRotation Off
<VirtualHost *:80>
    WSGIDaemonProcess site processes=2 threads=4 home=/srv/site
    WSGIScriptAlias /daemon /srv/site/app.wsgi process-group=site application-group=%{GLOBAL}
    WSGIScriptAlias / /srv/site/app.wsgi
    WSGIApplicationGroup %{GLOBAL}
    <Directory /srv/site>
        Require all granted
    </Directory>
</VirtualHost>
"""

# A container has no init system: invoke-rc.d blocks every service action
# without a policy-rc.d. This one allows them, as on a machine whose init starts
# and reloads services (here through /etc/init.d/apache2).
ALLOW_SERVICES = "printf '#!/bin/sh\\nexit 0\\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d"


def apache_generation(c):
    """Count of Apache (re)starts in the error log."""
    return c.exec("cat", "/var/log/apache2/error.log").stdout.count("resuming normal operations")


def test_install_upgrade_purge_in_clean_container(deb):
    dockerlib.require_docker()
    dockerlib.images()  # builds the base image too
    version = control_field(deb, "Version")
    debs = tempfile.mkdtemp(prefix="rwsgi-debs-", dir="/tmp")
    os.chmod(debs, 0o755)
    net = dockerlib.Network()
    try:
        prev = dockerlib.last_line(run(os.path.join(dockerlib.REPO_ROOT, "scripts", "package.sh"), timeout=1800,
                                       env={"RWSGI_DEB_VERSION": version + "~prev", "RWSGI_DEB_OUT": debs}).stdout)
        shutil.copy(deb, os.path.join(debs, "new.deb"))
        site_dir = os.path.join(debs, "site")
        os.mkdir(site_dir, 0o755)
        shutil.copy(os.path.join(dockerlib.REPO_ROOT, "conf", "example", "app.wsgi"), os.path.join(site_dir, "app.wsgi"))
        os.chmod(os.path.join(site_dir, "app.wsgi"), 0o644)

        # --init: a pid 1 that reaps, as a machine's init does (the init script
        # reads a daemonized Apache's exit from the process table).
        c = Container(dockerlib.BASE_IMAGE, net, "sleep", "infinity",
                      options=("--init", "-v", "%s:/debs:ro" % debs, "-v", "%s:/srv/site:ro" % site_dir))
        c.sh(ALLOW_SERVICES)
        # A plain minbase system: documentation installed too (the image trims it).
        c.sh("rm /etc/dpkg/dpkg.cfg.d/docker-slim")
        assert c.exec("dpkg-query", "-W", "apache2", check=False).returncode != 0, "the base image is not clean"

        # 1. A clean Debian 12: apt resolves everything (Apache, Python) from the package's relations.
        c.sh("apt-get update -qq", timeout=600)
        p = c.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y /debs/%s" % os.path.basename(prev), timeout=900)
        assert re.search(r"^Setting up %s \(%s\)" % (PKG, re.escape(version + "~prev")), p.stdout, re.M), p.stdout[-3000:]
        assert "apache2_invoke: Enable module rwsgi" in p.stdout + p.stderr
        assert c.exec("a2query", "-m", "rwsgi").returncode == 0
        p = c.exec("a2enmod", "rwsgi")
        assert "already enabled" in p.stdout
        p = c.exec("apache2ctl", "configtest")
        assert "Syntax OK" in p.stdout + p.stderr
        assert c.exec("apache2ctl", "-M").stdout.count("rwsgi_module") == 1

        # 2. A WSGI site, served.
        c.sh("cat >/etc/apache2/sites-available/wsgi-site.conf <<'EOF'\n%sEOF\n"
             "a2dissite -q 000-default && a2ensite -q wsgi-site && apache2ctl configtest && invoke-rc.d apache2 reload" % SITE)
        ip = c.ip
        wait_until(lambda: get(ip, "/")[1].startswith(b"Hello from mod_rwsgi!"), 20, "the site")
        wait_until(lambda: b"process group site" in get(ip, "/daemon/")[1], 20, "the site's daemon group")

        # 3. Upgrade under load: the site stays up and the new module goes into service
        #    (the postinst's graceful restart).
        gen = apache_generation(c)
        with Load(ip, paths=("/", "/daemon/"), threads=4, expect=b"Hello from mod_rwsgi!") as load:
            load.wait_for(100)
            p = c.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y /debs/new.deb", timeout=600)
            assert re.search(r"^Unpacking %s \(%s\) over \(%s\)" % (PKG, re.escape(version), re.escape(version + "~prev")),
                             p.stdout, re.M), p.stdout[-3000:]
            wait_until(lambda: apache_generation(c) > gen, 20, "the graceful restart after the upgrade")
            load.wait_for(100)
            ok, failures = load.stop()
        assert failures == [], failures[:10]
        assert ok >= 200
        print("upgrade %s -> %s: %d requests, none failed" % (version + "~prev", version, ok))
        assert c.exec("dpkg-query", "-W", "-f", "${Version}", PKG).stdout == version
        # Every Apache process maps the module file dpkg installed, none the replaced one.
        # (Read from the host: inside the container root may not read www-data's maps.)
        mapped = []
        for uid, pid, ppid, args in c.processes():
            if args.startswith("/usr/sbin/apache2"):
                with open("/proc/%d/maps" % pid) as f:
                    mapped += sorted({l.split(None, 5)[-1].strip() for l in f if "mod_rwsgi.so" in l})
        # The parent and its children map the module; daemon processes are the
        # exec'd rwsgi-daemon program, which must be the installed file too.
        assert len(mapped) >= 2 and set(mapped) == {"/usr/lib/apache2/modules/mod_rwsgi.so"}, mapped
        exes = []
        for uid, pid, ppid, args in c.processes():
            try:
                exes.append(os.readlink("/proc/%d/exe" % pid))
            except OSError:
                pass
        daemons = [e for e in exes if "rwsgi-daemon" in e]
        assert daemons and set(daemons) == {"/usr/lib/apache2/modules/rwsgi-daemon"}, daemons
        assert c.sh("grep -c 'SIGUSR1 received' /var/log/apache2/error.log").stdout.strip() != "0"

        # 4. Purge: nothing of the package remains; Apache goes on without it.
        owned = c.exec("dpkg-query", "-L", PKG).stdout.split()
        assert "/usr/share/doc/%s/copyright" % PKG in owned and "/usr/share/doc/%s/README.Debian" % PKG in owned
        c.sh("a2dissite -q wsgi-site && a2ensite -q 000-default")  # the site's directives need a WSGI module
        p = c.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y %s" % PKG, timeout=600)
        assert "Purging configuration files for %s" % PKG in p.stdout, p.stdout
        assert c.exec("dpkg-query", "-W", PKG, check=False).returncode != 0
        left = c.sh("for f in %s; do [ -f \"$f\" ] || [ -L \"$f\" ] && echo \"$f\"; done; true" % " ".join(owned)).stdout.split()
        assert left == [], left
        found = c.sh("find / -xdev -name '*rwsgi*' -not -path '/debs/*' -not -path '/proc/*' -print").stdout.split()
        assert found == [], found
        assert "Syntax OK" in c.exec("apache2ctl", "configtest").stderr + c.exec("apache2ctl", "configtest").stdout
        wait_until(lambda: get(ip, "/")[0] == 200, 20, "Apache without mod_rwsgi")
        assert "rwsgi_module" not in c.exec("apache2ctl", "-M").stdout

        # 5. With mod_wsgi enabled, installing leaves mod_rwsgi disabled (the
        #    modules read the same directives) and says how to switch.
        c.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libapache2-mod-wsgi-py3", timeout=600)
        assert c.exec("a2query", "-m", "wsgi").returncode == 0
        p = c.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y /debs/new.deb", timeout=600)
        assert "mod_wsgi is enabled, so mod_rwsgi was left disabled" in p.stdout + p.stderr
        assert c.exec("a2query", "-m", "rwsgi", check=False).returncode != 0
        p = c.exec("a2enmod", "rwsgi", check=False)
        assert p.returncode != 0 and "Module wsgi is enabled - cannot proceed due to conflicts" in p.stdout + p.stderr, p.stdout + p.stderr
        c.sh("a2dismod -q wsgi && a2enmod -q rwsgi && apache2ctl configtest")
    finally:
        net.remove()
        shutil.rmtree(debs, ignore_errors=True)
