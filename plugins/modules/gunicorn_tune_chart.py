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
  - Runs on the controller (an action plugin), where it writes the PNG; needs matplotlib there.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - matplotlib
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
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
