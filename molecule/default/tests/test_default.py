"""Behaviour of the default deploy on a real systemd test host (testinfra)."""
import pytest

APP = "mysite"
UNIT = f"gunicorn-{APP}.service"
CONFIG = f"/etc/gunicorn/{APP}/gunicorn.conf.py"
SECRET_ENV = f"/etc/gunicorn/{APP}/secret.env"
APP_ENV = f"/etc/gunicorn/{APP}/app.env"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
SECRET_VALUE = "molecule-default-not-a-real-secret"
EXPECTED_WORKERS = 3


def main_pid(host):
    pid = int(host.check_output(f"systemctl show --property=MainPID --value {UNIT}"))
    assert pid > 0, f"{UNIT} has no main PID"
    return pid


def http(host, path):
    """Status and body of a request to Gunicorn on the test host's loopback."""
    out = host.check_output(f"curl -s -m 10 -w '\\n%{{http_code}}' http://127.0.0.1:8000{path}")
    body, status = out.rsplit("\n", 1)
    return int(status), body


def test_service_is_active_and_enabled(host):
    service = host.service(UNIT)
    assert service.is_running
    assert service.is_enabled


def test_gunicorn_runs_as_the_service_user(host):
    assert host.check_output(f"ps -o user= -p {main_pid(host)}").strip() == APP


def test_expected_number_of_workers(host):
    workers = host.check_output(f"ps -o pid= --ppid {main_pid(host)}").split()
    assert len(workers) == EXPECTED_WORKERS


def test_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:8000").is_listening
    assert not host.socket("tcp://0.0.0.0:8000").is_listening


@pytest.mark.parametrize(
    "expected",
    [
        "bind = ['127.0.0.1:8000']",
        "workers = 3",
        "worker_class = 'sync'",
        "wsgi_app = 'mysite.wsgi:application'",
        "worker_tmp_dir = '/dev/shm'",
        "max_requests_jitter = 100",
        "control_socket = '/run/gunicorn-mysite/gunicorn.ctl'",
    ],
)
def test_config_rendered(host, expected):
    config = host.file(CONFIG)
    assert config.user == "root" and config.group == APP and config.mode == 0o640
    assert expected in config.content_string.splitlines()


def test_config_is_valid_python_and_managed(host):
    config = host.file(CONFIG).content_string
    assert config.startswith("#")
    assert "Ansible managed" in config
    host.check_output(f"python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read())' {CONFIG}")


@pytest.mark.parametrize(
    "directive",
    [
        "Type=notify",
        "User=mysite",
        "Group=mysite",
        "KillMode=mixed",
        "TimeoutStopSec=45",
        "ExecReload=/bin/kill -s HUP $MAINPID",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        f"EnvironmentFile={SECRET_ENV}",
    ],
)
def test_unit_directives(host, directive):
    assert directive in host.file(UNIT_FILE).content_string.splitlines()


def test_secret_stays_in_the_root_owned_environment_file(host):
    secret_env = host.file(SECRET_ENV)
    assert secret_env.user == "root" and secret_env.group == "root" and secret_env.mode == 0o600
    assert SECRET_VALUE in secret_env.content_string
    for path in (CONFIG, UNIT_FILE, APP_ENV):
        assert SECRET_VALUE not in host.file(path).content_string, path


def test_healthz_answers_through_gunicorn(host):
    status, body = http(host, "/healthz")
    assert (status, body.strip()) == (200, "ok")


def test_orm_page_answers_through_gunicorn(host):
    status, body = http(host, "/items/")
    assert status == 200
    assert "Catalog: 50 items" in body
