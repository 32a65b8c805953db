#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_tune_chart
short_description: Draw a tuning run's throughput and p95 against each variable swept, as a PNG
version_added: 0.1.0
description:
  - Draws one panel per phase of a tuning run (see P(djangoops.gunicorn.gunicorn_tune_next#filter)) with
    throughput (requests per second, left axis) and p95 latency (right axis) against the value of the variable
    swept, marking the chosen configuration and the SLO's p95.
  - Meant to run on the controller (C(delegate_to=localhost)); needs matplotlib there.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - matplotlib
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  steps:
    description: The steps of the tuning run.
    type: list
    elements: dict
    required: true
  phases:
    description: The variables swept, in order.
    type: list
    elements: str
    required: true
  choice:
    description: The output of P(djangoops.gunicorn.gunicorn_tune_choice#filter).
    type: dict
    required: true
  slo:
    description: The SLO (C(p95_ms) is drawn as a line).
    type: dict
    default: {}
  options:
    description: The tuning options.
    type: dict
    default: {}
  title:
    description: The chart's title.
    type: str
    default: Gunicorn tuning
  path:
    description: The PNG file to write.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Draw the chart
  djangoops.gunicorn.gunicorn_tune_chart:
    steps: "{{ steps }}"
    phases: [workers, threads]
    choice: "{{ choice }}"
    slo: {p95_ms: 300}
    title: mysite on web1
    path: /tmp/tune/chart.png
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The PNG written.
  returned: success
  type: str
panels:
  description: Number of panels drawn (one per phase with measured points).
  returned: success
  type: int
"""

import os
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.djangoops.gunicorn.plugins.module_utils import tuning, tuning_report

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    MATPLOTLIB_IMPORT_ERROR = traceback.format_exc()
else:
    MATPLOTLIB_IMPORT_ERROR = None


def draw(series, best_label, slo_p95, title, path):
    panels = [entry for entry in series if entry["points"]]
    figure, axes = plt.subplots(1, max(1, len(panels)), figsize=(6 * max(1, len(panels)), 4.2), squeeze=False)
    for axis, entry in zip(axes[0], panels):
        xs = [point["x"] for point in entry["points"]]
        axis.plot(xs, [point["rps"] for point in entry["points"]], "o-", color="tab:blue", label="req/s")
        axis.set_xlabel(entry["variable"])
        axis.set_ylabel("requests per second", color="tab:blue")
        axis.set_xticks(xs)
        axis.set_ylim(bottom=0)
        latency = axis.twinx()
        latency.plot(xs, [point["p95_ms"] for point in entry["points"]], "s--", color="tab:red", label="p95")
        latency.set_ylabel("p95 latency (ms)", color="tab:red")
        latency.set_ylim(bottom=0)
        if slo_p95 is not None:
            latency.axhline(slo_p95, color="tab:red", linestyle=":", linewidth=1)
        for point in entry["points"]:
            if point["label"] == best_label:
                axis.annotate("chosen", (point["x"], point["rps"]), textcoords="offset points", xytext=(0, 8),
                              ha="center", fontweight="bold")
        axis.set_title("%s (others fixed)" % entry["variable"])
    figure.suptitle(title)
    figure.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=100)
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
        plt.close(figure)
    return len(panels)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            steps=dict(type="list", elements="dict", required=True),
            phases=dict(type="list", elements="str", required=True),
            choice=dict(type="dict", required=True),
            slo=dict(type="dict", default={}),
            options=dict(type="dict", default={}),
            title=dict(type="str", default="Gunicorn tuning"),
            path=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    if plt is None:
        module.fail_json(msg=missing_required_lib("matplotlib (on the controller, where the chart is drawn)"),
                         exception=MATPLOTLIB_IMPORT_ERROR)
    params = module.params
    try:
        series = tuning_report.chart_series(params["steps"], params["phases"], params["slo"], params["options"])
    except (tuning.TuningError, KeyError, TypeError) as exc:
        module.fail_json(msg="gunicorn_tune_chart: the steps are not those of a tuning run (%s)" % exc)
    settings = params["choice"].get("settings")
    best_label = tuning.describe(settings) if settings else None
    if module.check_mode:
        module.exit_json(changed=True, path=params["path"], panels=len([s for s in series if s["points"]]))
    try:
        panels = draw(series, best_label, params["slo"].get("p95_ms"), params["title"], params["path"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="gunicorn_tune_chart: cannot write %s: %s" % (params["path"], exc))
    module.exit_json(changed=True, path=params["path"], panels=panels)


if __name__ == "__main__":
    main()
