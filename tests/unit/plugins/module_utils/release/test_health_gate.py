"""Finding 9 of the hardening review on a FakeHost: health checks that set headers, HEAD and
redirects; an app that answers 503 while it warms up passes, a 500 still fails fast, a dead
master fails at once, and a master that systemd restarted during the checks fails the gate."""
import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed

from release_fakes import PROXY, SOCKET, config_spec, release_files


def failure_of(call, *args, **kwargs):
    with pytest.raises(StepFailed) as caught:
        call(*args, **kwargs)
    return caught.value


def marked(marker):
    spec = config_spec(python="# %s\n" % marker)
    return spec, release_files(spec)


def test_checks_send_their_headers_so_an_app_behind_a_proxy_can_be_gated(app):
    spec, files = marked("NEEDS-HOST")
    failure = failure_of(app.deploy, spec, files)
    assert failure.step == "canary" and "status 400" in failure.detail
    checks = [{"path": "/healthz", "headers": {"host": "shop.example.com", "X-Forwarded-Proto": "https"}}]
    result = app.deploy(spec, files, health_checks=checks)
    assert result["healthy"]
    headers = app.host.requests[-1][3]
    # The check's own Host replaces the default one, whatever its case.
    assert headers["host"] == "shop.example.com" and "Host" not in headers
    assert headers["X-Forwarded-Proto"] == "https"


def test_the_default_host_is_localhost_and_head_is_sent_as_head(app):
    app.deploy(health_checks=[{"path": "/healthz", "method": "head"}])
    _address, method, path, headers = app.host.requests[-1]
    assert (method, path, headers["Host"]) == ("HEAD", "/healthz", plan.DEFAULT_HEALTH_HOST)


def test_a_redirect_is_an_answer_a_check_can_expect(app):
    spec, files = marked("REDIRECTS")
    expected = [{"path": "/", "status": 301, "location": "https://shop.example.com/"}]
    assert app.deploy(spec, files, health_checks=expected)["healthy"]
    wrong = [{"path": "/", "status": 301, "location": "https://elsewhere.example.com/"}]
    failure = failure_of(app.deploy, config_spec(timeout=60, python="# REDIRECTS\n"),
                         release_files(config_spec(timeout=60, python="# REDIRECTS\n")), health_checks=wrong)
    assert "Location is 'https://shop.example.com/'" in failure.detail


def test_an_app_that_answers_503_while_it_warms_up_passes(app):
    spec, files = marked("WARMING")
    result = app.deploy(spec, files)
    assert result["healthy"] and result["result"] == "started"


def test_an_app_that_answers_500_still_fails_fast(app):
    spec, files = marked("BROKEN")
    started = app.host.clock
    failure = failure_of(app.deploy, spec, files)
    assert failure.step == "canary" and "status 500" in failure.detail
    # Three wrong answers with backoff, not the 30 s deadline.
    assert app.host.clock - started < 10 + 2


def test_a_dead_master_fails_the_checks_at_once(app):
    app.deploy()
    host = app.host

    def die():
        host.master, host.failed = None, True
    host.on_request = die
    started = host.clock
    failure = failure_of(app.deploy, config_spec(timeout=60))
    assert "the master is gone" in failure.detail or "failed" in failure.detail
    assert host.clock - started < 10 + 2


def test_a_master_restarted_by_systemd_during_the_checks_fails_the_gate(app):
    app.deploy()
    host = app.host
    before = host.master["pid"]

    def restarted_by_systemd():
        # Restart=on-failure: the master died and systemd started a new one, which answers.
        if host.master and host.master["pid"] == before and host.canary is None:
            host.master = host._master(host.files["config"])
            host.master["live"] = True
            host.n_restarts += 1
    host.on_request = restarted_by_systemd
    failure = failure_of(app.deploy, config_spec(timeout=60))
    assert failure.step == "health-gate" and "the master changed during the health checks" in failure.detail
    assert failure.result["result"] == "rolled_back"


# -- checks through the proxy (a check's url) -------------------------------------------------

PROXIED = [{"path": "/healthz"},
           {"url": "http://127.0.0.1/items/?page=1", "headers": {"Host": "shop.example.com",
                                                                 "X-Forwarded-Proto": "https"},
            "contains": "Catalog"}]


def with_socket(spec):
    return release_files(spec, socket=SOCKET)


def test_plan_sends_a_url_check_to_its_url_with_its_path_and_host():
    check = {"url": "http://127.0.0.1:8080/items/?page=2"}
    assert plan.health_address(check, ("unix", "/run/x.sock")) == ("tcp", "127.0.0.1", 8080)
    assert plan.health_address({"url": "https://shop.example.com/"}, None) == ("https", "shop.example.com", 443)
    assert plan.health_address({"path": "/healthz"}, ("unix", "/run/x.sock")) == ("unix", "/run/x.sock")
    method, path, headers = plan.health_request(check)
    assert (method, path, headers["Host"]) == ("GET", "/items/?page=2", "127.0.0.1:8080")
    assert plan.health_request({"url": "http://127.0.0.1", "headers": {"host": "shop"}})[1:] == (
        "/", {"host": "shop", "User-Agent": "djangoops.gunicorn"})


def test_a_url_check_gates_the_release_as_the_proxy_sees_it_but_not_the_canary_nor_the_partner(app):
    app.deploy(files=with_socket(config_spec()), health_checks=PROXIED)
    app.host.requests.clear()
    spec = config_spec(timeout=60)
    result = app.deploy(spec, with_socket(spec), health_checks=PROXIED)
    assert result["result"] == "handed_over" and result["healthy"]
    proxied = [request for request in app.host.requests if request[0] == PROXY]
    assert proxied and all(request[2] == "/items/?page=1" and request[3]["Host"] == "shop.example.com"
                           and request[3]["X-Forwarded-Proto"] == "https" for request in proxied)
    # Only after the live unit restarted on the release: never while the old master could answer.
    first_proxied = app.host.requests.index(proxied[0])
    assert ("unix", app.layout["probe_socket"]) in [request[0] for request in app.host.requests[:first_proxied]]
    steps = dict((step["step"], step) for step in result["steps"])
    assert "passed 1 health check(s)" in steps["canary"]["detail"]
    assert "1 health check(s) passed through unix:" in steps["health-gate"]["detail"]
    assert "and 1 through http://127.0.0.1/items/?page=1" in steps["health-gate"]["detail"]


def test_a_release_healthy_directly_but_refused_through_the_proxy_is_rolled_back(app):
    app.deploy(files=with_socket(config_spec()), health_checks=PROXIED)
    good_config, good_pid = app.host.files["config"], app.host.master["pid"]
    bad = config_spec(python="# PUBLIC-HOST-REFUSED\n")
    failure = failure_of(app.deploy, bad, with_socket(bad), health_checks=PROXIED)
    # The canary and the partner passed (their checks go to that master, with Host localhost).
    steps = [(step["step"], step["result"]) for step in failure.result["steps"]]
    assert ("canary", "ok") in steps and ("partner", "ok") in steps
    assert failure.step == "health-gate" and "http://127.0.0.1/items/?page=1: status 400" in failure.detail
    assert failure.result["result"] == "rolled_back" and failure.result["healthy"]
    assert app.host.files["config"] == good_config and app.host.master["config"] == good_config
    assert app.host.master["pid"] != good_pid and not app.host.partner_installed()
    # The rollback's gate does not ask the proxy (the bad partner still served behind it).
    assert ("rollback", "ok") in steps


def test_without_socket_activation_a_url_check_gates_the_reload(app):
    app.deploy(health_checks=PROXIED)
    bad = config_spec(python="# PUBLIC-HOST-REFUSED\n")
    failure = failure_of(app.deploy, bad, release_files(bad), health_checks=PROXIED)
    assert failure.step == "health-gate" and failure.result["result"] == "rolled_back"
    assert "PUBLIC-HOST-REFUSED" not in app.host.master["config"]


def test_an_unchanged_run_checks_the_site_through_the_proxy_too(app):
    app.deploy(health_checks=PROXIED)
    app.host.requests.clear()
    result = app.deploy(health_checks=PROXIED)
    assert result["result"] == "unchanged" and PROXY in [request[0] for request in app.host.requests]
