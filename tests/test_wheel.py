"""The wheel runs anywhere: built from the checkout, installed into a fresh virtual
environment, started from an empty folder, it serves its pages in Slovenian and
English (templates, compiled catalogues, static files, migrations and the WSGI
entry all come from the package)."""

import http.client
import os
import signal
import site
import subprocess
import sys
import time
import zipfile

import pytest

from sinks import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def get(port, path, language):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "localhost", "Accept-Language": language})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
                    ROOT], check=True, capture_output=True, timeout=300)
    (built,) = dist.glob("idp-*.whl")
    return built


def test_the_wheel_holds_everything_the_app_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("idp/wsgi.py", "idp/templates/login.html", "idp/templates/messages/"
                   "registration_code.email.txt", "idp/translations/sl/LC_MESSAGES/messages.mo",
                   "idp/translations/sl/LC_MESSAGES/messages.po", "idp/static/idp.css",
                   "idp/migrations/env.py", "idp/migrations/alembic.ini",
                   "idp/accounts/common_passwords.txt"):
        assert needed in names, needed
    assert any(n.startswith("idp/migrations/versions/") and n.endswith(".py") for n in names)
    assert not any(n.startswith("templates/") or n == "wsgi.py" for n in names)


def test_installed_wheel_serves_slovenian_and_english_from_an_empty_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python, idp = venv / "bin" / "python", venv / "bin" / "idp"
    # The dependencies come from the project's environment (a path only: its
    # editable install of the checkout stays out); the package itself from the wheel.
    (site_packages,) = (venv / "lib").glob("python*/site-packages")
    (site_packages / "project-deps.pth").write_text(site.getsitepackages()[0] + "\n")
    # --ignore-installed: never touch the project's environment seen through the .pth.
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--ignore-installed", str(wheel)], check=True, capture_output=True,
                   timeout=120)

    home = tmp_path / "empty"
    home.mkdir()
    env = {"PATH": "", "HOME": str(home), "LANG": "C.UTF-8"}
    where = subprocess.run([str(python), "-c", "import idp; print(idp.__file__)"], cwd=home,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site_packages)), where
    init = subprocess.run([str(idp), "init"], cwd=home, env=env, capture_output=True, text=True,
                          timeout=120)
    assert init.returncode == 0, init.stderr
    assert "Database ready" in init.stdout

    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([str(idp), "serve", "--port", str(port)], cwd=home, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "Started worker-1" not in (tmp_path / "serve.log").read_text():
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        status, slovenian = get(port, "/login", "sl")
        assert status == 200
        assert "<h1>Prijava</h1>" in slovenian and "Pozabljeno geslo?" in slovenian
        assert 'hreflang="en">English</a>' in slovenian
        status, english = get(port, "/login?lang=en", "sl")
        assert status == 200
        assert "<h1>Log in</h1>" in english and "Forgot your password?" in english
        assert 'hreflang="sl">Slovenščina</a>' in english
        assert get(port, "/login", "en-GB,en;q=0.8")[1].count("<h1>Log in</h1>") == 1
        assert get(port, "/static/idp.css", "sl")[0] == 200

        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in output
    assert (home / "instance" / "idp.sqlite3").exists()


def test_a_checkout_compiles_missing_or_stale_catalogues(tmp_path):
    """What create_app does for a checkout or an editable install (no make needed)."""
    import gettext
    import shutil

    from idp.catalogues import ensure_compiled, stale_catalogues

    folder = tmp_path / "translations"
    shutil.copytree(os.path.join(ROOT, "idp", "translations"), folder,
                    ignore=shutil.ignore_patterns("*.mo"))
    po = folder / "sl" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    assert stale_catalogues(folder) == [(str(po), str(mo))]
    ensure_compiled(folder)
    assert stale_catalogues(folder) == []
    with open(mo, "rb") as fh:
        assert gettext.GNUTranslations(fh).gettext("Log in") == "Prijava"
    os.utime(po, (time.time() + 10, time.time() + 10))  # the source edited since
    assert stale_catalogues(folder) == [(str(po), str(mo))]
