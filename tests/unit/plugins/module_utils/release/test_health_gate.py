"""Finding 9 of the hardening review on a FakeHost: health checks that set headers, HEAD and
redirects; an app that answers 503 while it warms up passes, a 500 still fails fast, a dead
master fails at once, and a master that systemd restarted during the checks fails the gate."""
import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed

from release_fakes import config_spec, release_files


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
