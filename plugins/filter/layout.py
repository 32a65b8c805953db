# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names and addresses of an app on a host: gunicorn_layout and gunicorn_bind (docs in the YAML
files beside this one). Both only expose plugins/module_utils (layout.py, bind.py), which the
modules on the host use too, so the controller and the host derive every name the same way."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils import bind, layout


def gunicorn_layout(app_name, config_dir=layout.DEFAULT_CONFIG_DIR, state_dir=layout.DEFAULT_STATE_DIR,
                    systemd_dir=layout.DEFAULT_SYSTEMD_DIR):
    try:
        return layout.app_layout(str(app_name), str(config_dir), str(state_dir), str(systemd_dir))
    except ValueError as exc:
        raise AnsibleFilterError("gunicorn_layout: %s" % exc)


def gunicorn_bind(value):
    try:
        return bind.describe(str(value) if value is not None else value)
    except ValueError as exc:
        raise AnsibleFilterError("gunicorn_bind: %s" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_layout": gunicorn_layout, "gunicorn_bind": gunicorn_bind}
