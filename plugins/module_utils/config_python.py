# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which settings raw Python appended to gunicorn.conf.py changes at module level (ast, never run).

gunicorn_django_config_python is appended after the settings the role renders, so a module-level
`bind.append(...)` or `workers = 50` would override them past every preflight rule. Code inside
functions and classes (server hooks such as post_fork) is local to them and is not reported. It
catches mistakes, not a determined author (`globals()` tricks are not followed). Standard library
only.
"""

from __future__ import annotations

import ast

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
            # Decorators still run at module level.
            for expression in getattr(child, "decorator_list", []):
                yield expression
                yield from _walk_module_level(expression)
            continue
        yield child
        yield from _walk_module_level(child)


def _line(node):
    """Line of a node; with-items carry it on their target."""
    for candidate in (node, getattr(node, "target", None), getattr(node, "optional_vars", None)):
        if getattr(candidate, "lineno", None):
            return candidate.lineno
    return 0


def managed_changes(code, names):
    """One sentence per module-level statement of `code` that changes one of `names`, sorted by line.

    Code that does not parse yields nothing: `gunicorn --check-config` judges it on the host, whose
    Python may be newer than the controller's.
    """
    managed = set(names)
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return []
    found = set()
    for node in _walk_module_level(tree):
        changed, how = _changed_names(node)
        for name in changed:
            if name in managed:
                found.add((_line(node), name, how))
    return ["line %d: %s is %s" % item for item in sorted(found)]
