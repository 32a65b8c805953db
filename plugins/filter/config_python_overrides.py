# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find module-level statements of raw gunicorn.conf.py code that change given settings."""

from __future__ import annotations

DOCUMENTATION = r"""
name: config_python_overrides
short_description: Statements of Python config code that change settings managed elsewhere
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Parses Python code that is appended to C(gunicorn.conf.py) and returns one sentence per
    module-level statement that assigns, augments, deletes, imports over or mutates (C(bind.append),
    C(bind[0] = ...), ...) one of the given setting names. Code inside functions (server hooks
    such as C(post_fork)) is local to them and is not reported.
  - Code the controller's Python cannot parse yields nothing; C(gunicorn --check-config) judges it
    on the host, whose Python may be newer.
  - It catches mistakes, not a determined author (C(globals()) tricks are not followed).
options:
  _input:
    description: The Python code.
    type: str
    required: true
  names:
    description: The setting names the code may not change.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse config_python that rebinds
  ansible.builtin.assert:
    that: gunicorn_django_config_python | djangoops.gunicorn.config_python_overrides(['bind', 'workers']) | length == 0
"""

RETURN = r"""
_value:
  description: One sentence per offending statement (C(line N - bind.append(...))); empty when none.
  type: list
  elements: string
"""

import ast

from ansible.errors import AnsibleFilterError

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
           ast.DictComp, ast.GeneratorExp)


def _target_names(target):
    """Names a target expression rebinds or changes in place (x, x[0], x.attr, (x, y), *x)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Subscript, ast.Attribute)):
        return _target_names(target.value)
    return []


def _changed_names(node):
    """(names, how) for one node at module level."""
    if isinstance(node, ast.Assign):
        return [n for target in node.targets for n in _target_names(target)], "assigned"
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return _target_names(node.target), "assigned"
    if isinstance(node, ast.Delete):
        return [n for target in node.targets for n in _target_names(target)], "deleted"
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return _target_names(node.target), "assigned by a for loop"
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return _target_names(node.optional_vars), "assigned by with ... as"
    if isinstance(node, ast.NamedExpr):
        return _target_names(node.target), "assigned"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names], "imported over"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        base = node.func.value
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        if isinstance(base, ast.Name):
            return [base.id], "changed with .%s()" % node.func.attr
    return [], None


def _walk_module_level(node):
    """Every node outside function and class bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            # Decorators and default values still run at module level.
            for expression in getattr(child, "decorator_list", []):
                yield from _walk_module_level_expr(expression)
            continue
        yield child
        yield from _walk_module_level(child)


def _walk_module_level_expr(node):
    yield node
    yield from _walk_module_level(node)


def config_python_overrides(code, names):
    if code is None:
        return []
    if not isinstance(code, str):
        raise AnsibleFilterError("config_python_overrides: expected Python code as a string, got %s"
                                 % type(code).__name__)
    managed = set(names or [])
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # Left to `gunicorn --check-config` on the host, whose Python may be newer.
        return []
    found = set()
    for node in _walk_module_level(tree):
        changed, how = _changed_names(node)
        for name in changed:
            if name in managed:
                found.add((_line(node), name, how))
    return ["line %d: %s is %s" % item for item in sorted(found)]


def _line(node):
    """Line of a node; comprehensions and with-items carry it on their target."""
    for candidate in (node, getattr(node, "target", None), getattr(node, "optional_vars", None)):
        if getattr(candidate, "lineno", None):
            return candidate.lineno
    return 0


class FilterModule:
    def filters(self):
        return {"config_python_overrides": config_python_overrides}
