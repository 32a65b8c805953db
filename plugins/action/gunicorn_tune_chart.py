# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_tune_chart: draws the chart on the controller.

An action plugin rather than a module: the chart is built from the tuning planner
(plugin_utils.tuning), which is controller code and is not shipped to hosts, and the PNG belongs
on the controller next to the report. The documentation is in plugins/modules/gunicorn_tune_chart.py.
"""

from __future__ import annotations

import os
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils import tuning, tuning_report

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as exc:
    plt = None
    MATPLOTLIB_IMPORT_ERROR = str(exc)
else:
    MATPLOTLIB_IMPORT_ERROR = None

ARGUMENT_SPEC = dict(
    steps=dict(type="list", elements="dict", required=True),
    phases=dict(type="list", elements="str", required=True),
    choice=dict(type="dict", required=True),
    slo=dict(type="dict", default={}),
    options=dict(type="dict", default={}),
    title=dict(type="str", default="Gunicorn tuning"),
    path=dict(type="path", required=True),
)


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


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result["changed"] = False
        if plt is None:
            result.update(failed=True, msg="gunicorn_tune_chart needs matplotlib on the controller, where the chart "
                                           "is drawn (pip install matplotlib): %s" % MATPLOTLIB_IMPORT_ERROR)
            return result
        try:
            series = tuning_report.chart_series(params["steps"], params["phases"], params["slo"], params["options"])
        except (tuning.TuningError, KeyError, TypeError) as exc:
            result.update(failed=True, msg="gunicorn_tune_chart: the steps are not those of a tuning run (%s)" % exc)
            return result
        settings = params["choice"].get("settings")
        best_label = tuning.describe(settings) if settings else None
        if self._task.check_mode:
            result.update(changed=True, path=params["path"], panels=len([s for s in series if s["points"]]))
            return result
        try:
            panels = draw(series, best_label, params["slo"].get("p95_ms"), params["title"], params["path"])
        except (IOError, OSError) as exc:
            result.update(failed=True, msg="gunicorn_tune_chart: cannot write %s: %s" % (params["path"], exc))
            return result
        result.update(changed=True, path=params["path"], panels=panels)
        return result
