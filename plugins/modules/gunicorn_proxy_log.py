#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_proxy_log
short_description: Count 502/504 answers and upstream times in Nginx's access log over a window
version_added: 0.3.0
description:
  - Reads the last O(window_seconds) of an Nginx access log and reports what the proxy's clients saw - requests by
    status, the 502 and 504 answers (Gunicorn refused, reset or too slow) and their rate, and the upstream response
    time (C($upstream_response_time)) at p50, p95 and its maximum.
  - "The times need a log format with C(rt=$request_time urt=$upstream_response_time) after Nginx's C(combined)
    fields (docs/role.md shows it); lines in plain C(combined) are counted without times."
  - The C(djangoops.gunicorn.baseline) playbook runs it when C(baseline_proxy_access_log) is set.
  - Read-only.
author: "djangoops.gunicorn contributors (@djangoops)"
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode reads the same.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: The access log (Debian's default is C(/var/log/nginx/access.log)).
    type: path
    required: true
  window_seconds:
    description: How far back from now to count, in seconds.
    type: int
    default: 300
  max_bytes:
    description: Read at most this many bytes from the end of the log (bounds the work on a big log).
    type: int
    default: 67108864
"""

EXAMPLES = r"""
- name: What the proxy's clients saw in the last 10 minutes
  djangoops.gunicorn.gunicorn_proxy_log:
    path: /var/log/nginx/access.log
    window_seconds: 600
  become: true
  register: proxy_log
"""

RETURN = r"""
requests:
  description: Requests logged in the window.
  returned: success
  type: int
by_status:
  description: Requests by status code.
  returned: success
  type: dict
  sample: {"200": 4121, "502": 3}
status_502:
  description: 502 answers.
  returned: success
  type: int
status_504:
  description: 504 answers.
  returned: success
  type: int
proxy_errors:
  description: 502 and 504 answers together.
  returned: success
  type: int
error_rate_percent:
  description: RV(proxy_errors) as a percentage of RV(requests); null without requests.
  returned: success
  type: float
non_2xx:
  description: Answers that were not 2xx.
  returned: success
  type: int
upstream_p50_s:
  description: Median upstream response time in seconds; null without timed lines.
  returned: success
  type: float
upstream_p95_s:
  description: 95th percentile of the upstream response time in seconds.
  returned: success
  type: float
upstream_max_s:
  description: Slowest upstream response in seconds.
  returned: success
  type: float
request_p95_s:
  description: 95th percentile of C($request_time) in seconds.
  returned: success
  type: float
timed_lines:
  description: Lines of the window that carry C(urt=).
  returned: success
  type: int
unparsed_lines:
  description: Lines read that are not in the format (they are not counted).
  returned: success
  type: int
window_seconds:
  description: The window.
  returned: success
  type: int
access_log:
  description: The log read.
  returned: success
  type: str
first:
  description: Time of the first line counted (ISO 8601).
  returned: success
  type: str
last:
  description: Time of the last line counted (ISO 8601).
  returned: success
  type: str
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.djangoops.gunicorn.plugins.module_utils import proxy_log


def tail_lines(path, max_bytes):
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        data = handle.read()
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[1:] if size > max_bytes else lines


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), window_seconds=dict(type="int", default=300),
                           max_bytes=dict(type="int", default=64 * 1024 * 1024)),
        supports_check_mode=True,
    )
    params = module.params
    if params["window_seconds"] < 1 or params["max_bytes"] < 1:
        module.fail_json(msg="window_seconds and max_bytes must be >= 1")
    try:
        lines = tail_lines(params["path"], params["max_bytes"])
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (params["path"], exc.strerror or exc))
    now = datetime.datetime.now(datetime.timezone.utc)
    summary = proxy_log.summarize(lines, since=now - datetime.timedelta(seconds=params["window_seconds"]))
    module.exit_json(changed=False, access_log=params["path"], window_seconds=params["window_seconds"], **summary)


if __name__ == "__main__":
    main()
