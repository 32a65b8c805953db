# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/role_docs.py: one parametrized table per check, against small fixture roles in tmp_path."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "role_docs.py"
_SPEC = importlib.util.spec_from_file_location("role_docs", SCRIPT)
role_docs = importlib.util.module_from_spec(_SPEC)
sys.modules["role_docs"] = role_docs
_SPEC.loader.exec_module(role_docs)

ROLE = "demo_role"


def write_role(root, defaults, options, role=ROLE, specs=None):
    """A role with defaults/main.yml (YAML text) and an argument spec whose main options are `options` (YAML text)."""
    role_dir = Path(root) / "roles" / role
    (role_dir / "defaults").mkdir(parents=True, exist_ok=True)
    (role_dir / "meta").mkdir(parents=True, exist_ok=True)
    (role_dir / "defaults" / "main.yml").write_text("---\n" + textwrap.dedent(defaults), encoding="utf-8")
    if specs is None:
        body = textwrap.indent(textwrap.dedent(options), " " * 6)
        specs = "---\nargument_specs:\n  main:\n    short_description: Demo\n    options:\n" + body
    (role_dir / "meta" / "argument_specs.yml").write_text(specs, encoding="utf-8")
    return role_dir


def role_findings(tmp_path, defaults, options, **kwargs):
    write_role(tmp_path, defaults, options, **kwargs)
    return [finding for finding in role_docs.run_check(tmp_path)
            if not finding.startswith("docs/") and "/README.md: " not in finding]


# --- a consistent role passes ------------------------------------------------------------

GOOD_DEFAULTS = """\
    demo_role_name: ""
    demo_role_port: 8000
    demo_role_dir: "/srv/{{ demo_role_name }}"
    demo_role_stop: "{{ demo_role_timeout | int + 15 }}"
    demo_role_items:
      - path: /healthz
        status: 200
    _demo_role_internal: 1
"""
GOOD_OPTIONS = """\
    demo_role_name:
      description: [Name, "of C(it)."]
      type: str
      required: true
    demo_role_port:
      description: Port.
      type: int
      default: 8000
    demo_role_dir:
      description: Dir.
      type: path
      default: /srv/{{demo_role_name}}
    demo_role_stop:
      description: Stop.
      type: int
      default: >-
        {{ demo_role_timeout
           | int + 15 }}
    demo_role_items:
      description: Items.
      type: list
      elements: dict
      default: [{path: /healthz, status: 200}]
    demo_role_wsgi:
      description: Required and absent from defaults.
      required: true
"""


def test_consistent_role_passes_and_render_then_check_is_clean(tmp_path):
    write_role(tmp_path, GOOD_DEFAULTS, GOOD_OPTIONS)
    assert role_docs.run_check(tmp_path) == ["docs/role.md: missing; run `python scripts/role_docs.py render`",
                                             "roles/demo_role/README.md: missing; run `python scripts/role_docs.py render`"]
    assert role_docs.run_render(tmp_path) == ["docs/role.md", "roles/demo_role/README.md"]
    assert role_docs.run_check(tmp_path) == []
    assert role_docs.run_render(tmp_path) == []


# --- each check failure --------------------------------------------------------------------

@pytest.mark.parametrize("defaults, options, expected", [
    # defaults <-> argument_specs membership
    pytest.param("demo_role_a: 1\ndemo_role_b: 2\n",
                 "demo_role_a: {description: A, type: int, default: 1}\n",
                 "demo_role_b: in defaults/main.yml but not in meta/argument_specs.yml options of entry point main",
                 id="in-defaults-not-in-specs"),
    pytest.param("demo_role_a: 1\n",
                 "demo_role_a: {description: A, type: int, default: 1}\ndemo_role_b: {description: B, type: int, default: 2}\n",
                 "demo_role_b: option has a default (2) but is not in defaults/main.yml",
                 id="option-with-default-not-in-defaults"),
    pytest.param("demo_role_a: 1\n",
                 "demo_role_a: {description: A, type: int, default: 1}\ndemo_role_b: {description: B, type: int}\n",
                 "demo_role_b: option is neither required nor in defaults/main.yml",
                 id="optional-option-without-default-not-in-defaults"),
    # descriptions
    pytest.param("demo_role_a: 1\n", "demo_role_a: {type: int, default: 1}\n",
                 "demo_role_a: option has no description", id="description-missing"),
    pytest.param("demo_role_a: 1\n", "demo_role_a: {description: '  ', type: int, default: 1}\n",
                 "demo_role_a: option has no description", id="description-blank"),
    pytest.param("demo_role_a: 1\n", "demo_role_a: {description: [], type: int, default: 1}\n",
                 "demo_role_a: option has no description", id="description-empty-list"),
    pytest.param("demo_role_a: []\n",
                 "demo_role_a: {description: A, type: list, elements: dict, default: [], options: {path: {type: str}}}\n",
                 "demo_role_a.path: option has no description", id="suboption-description-missing"),
    # default differs
    pytest.param("demo_role_a: 2\n", "demo_role_a: {description: A, type: int, default: 1}\n",
                 "demo_role_a: default in meta/argument_specs.yml (1) differs from defaults/main.yml (2)", id="int-differs"),
    pytest.param("demo_role_a: 1\n", "demo_role_a: {description: A, type: raw, default: true}\n",
                 "demo_role_a: default in meta/argument_specs.yml (true) differs from defaults/main.yml (1)", id="bool-is-not-int"),
    pytest.param("demo_role_a: '30'\n", "demo_role_a: {description: A, type: raw, default: 30}\n",
                 "demo_role_a: default in meta/argument_specs.yml (30) differs from defaults/main.yml (\"30\")", id="str-is-not-int"),
    pytest.param("demo_role_a: 1.0\n", "demo_role_a: {description: A, type: float, default: 1}\n",
                 "demo_role_a: default in meta/argument_specs.yml (1) differs from defaults/main.yml (1.0)", id="int-is-not-float"),
    pytest.param("demo_role_a: [{path: /a}]\n", "demo_role_a: {description: A, type: list, default: [{path: /b}]}\n",
                 "demo_role_a: default in meta/argument_specs.yml ([{path: /b}]) differs from defaults/main.yml ([{path: /a}])",
                 id="nested-list-differs"),
    pytest.param("demo_role_a: {x: 1}\n", "demo_role_a: {description: A, type: dict, default: {}}\n",
                 "demo_role_a: default in meta/argument_specs.yml ({}) differs from defaults/main.yml ({x: 1})", id="dict-differs"),
    pytest.param("demo_role_a: 2\n", "demo_role_a: {description: A, type: int}\n",
                 "demo_role_a: default in meta/argument_specs.yml (no default) differs from defaults/main.yml (2)",
                 id="spec-without-default"),
    pytest.param("demo_role_a: '{{ demo_role_b | int + 15 }}'\n",
                 "demo_role_a: {description: A, type: int, default: '{{ demo_role_b + 15 }}'}\n",
                 "demo_role_a: default in meta/argument_specs.yml (\"{{ demo_role_b + 15 }}\") differs from defaults/main.yml",
                 id="jinja-text-differs"),
    pytest.param("demo_role_a: '{{ demo_role_b }}'\n", "demo_role_a: {description: A, type: str, default: demo}\n",
                 "demo_role_a: default in meta/argument_specs.yml (\"demo\") differs from defaults/main.yml (\"{{ demo_role_b }}\")",
                 id="literal-vs-jinja"),
    # prefix
    pytest.param("other_a: 1\n", "other_a: {description: A, type: int, default: 1}\n",
                 "other_a: public variable is not prefixed with 'demo_role_'", id="prefix-missing"),
    pytest.param("demo_rolea: 1\n", "demo_rolea: {description: A, type: int, default: 1}\n",
                 "demo_rolea: public variable is not prefixed with 'demo_role_'", id="prefix-without-underscore"),
    # type vs literal default
    pytest.param("demo_role_a: 30\n", "demo_role_a: {description: A, type: str, default: 30}\n",
                 "demo_role_a: type str but the default in meta/argument_specs.yml (30) is int, not str", id="int-default-type-str"),
    pytest.param("demo_role_a: '30'\n", "demo_role_a: {description: A, type: int, default: '30'}\n",
                 "demo_role_a: type int but the default in meta/argument_specs.yml (\"30\") is str, not int", id="str-default-type-int"),
    pytest.param("demo_role_a: true\n", "demo_role_a: {description: A, type: int, default: true}\n",
                 "is bool, not int", id="bool-default-type-int"),
    pytest.param("demo_role_a: 'yes'\n", "demo_role_a: {description: A, type: bool, default: 'yes'}\n",
                 "is str, not bool", id="quoted-yes-type-bool"),
    pytest.param("demo_role_a: []\n", "demo_role_a: {description: A, type: dict, default: []}\n",
                 "is list, not dict", id="list-default-type-dict"),
    pytest.param("demo_role_a: [1, x]\n", "demo_role_a: {description: A, type: list, elements: int, default: [1, x]}\n",
                 "item 1 is str, not int (elements=int)", id="list-elements"),
    pytest.param("demo_role_a: 5\n", "demo_role_a: {description: A, default: 5}\n",
                 "demo_role_a: no type (Ansible then uses str) but the default in meta/argument_specs.yml (5) is int, not str",
                 id="missing-type-is-str"),
    pytest.param("demo_role_a: 5\n", "demo_role_a: {description: A, type: integer, default: 5}\n",
                 "demo_role_a: unknown type 'integer'", id="unknown-type"),
    pytest.param("demo_role_a: trace\n", "demo_role_a: {description: A, type: str, default: trace, choices: [info, debug]}\n",
                 "demo_role_a: default in meta/argument_specs.yml (\"trace\") is not one of the choices [info, debug]",
                 id="default-not-in-choices"),
    # required
    pytest.param("demo_role_a: mysite\n", "demo_role_a: {description: A, type: str, required: true}\n",
                 "demo_role_a: required option but defaults/main.yml sets \"mysite\"", id="required-with-value-in-defaults"),
    pytest.param("demo_role_a: x\n", "demo_role_a: {description: A, type: str, required: true, default: x}\n",
                 "demo_role_a: required: true and a default are mutually exclusive", id="required-and-default"),
])
def test_check_failure(tmp_path, defaults, options, expected):
    findings = role_findings(tmp_path, defaults, options)
    assert any(expected in finding for finding in findings), findings
    assert all(finding.startswith(f"roles/{ROLE}: ") for finding in findings)


@pytest.mark.parametrize("defaults, options", [
    pytest.param("demo_role_a: '{{x}}'\n", "demo_role_a: {description: A, type: str, default: '{{  x  }}'}\n",
                 id="jinja-whitespace-padding"),
    pytest.param("demo_role_a: '{{ a\n  | b }}'\n", "demo_role_a: {description: A, type: str, default: '{{ a | b }}'}\n",
                 id="jinja-whitespace-newline"),
    pytest.param("demo_role_a: '{{ 3 }}'\n", "demo_role_a: {description: A, type: int, default: '{{ 3 }}'}\n",
                 id="jinja-default-not-type-checked"),
    pytest.param("demo_role_a: ''\n", "demo_role_a: {description: A, type: int, required: true}\n",
                 id="required-with-empty-placeholder"),
    pytest.param("demo_role_a: {}\n", "demo_role_a: {description: A, type: dict, required: true}\n",
                 id="required-with-empty-dict"),
    pytest.param("demo_role_a: null\n", "demo_role_a: {description: A, type: str, required: true}\n",
                 id="required-with-null"),
    pytest.param("{}\n", "demo_role_a: {description: A, type: str, required: true}\n",
                 id="required-absent-from-defaults"),
    pytest.param("_demo_role_x: 1\n__private: 2\n", "{}\n", id="private-variables-ignored"),
    pytest.param("demo_role_a: 1\n", "demo_role_a: {description: A, type: float, default: 1}\n", id="int-fits-float"),
    pytest.param("demo_role_a: [1]\n", "demo_role_a: {description: A, type: raw, default: [1]}\n", id="raw-takes-anything"),
    pytest.param("demo_role_a: [info]\n",
                 "demo_role_a: {description: A, type: list, elements: str, default: [info], choices: [info, debug]}\n",
                 id="list-items-in-choices"),
    pytest.param("demo_role_a: x\n", "demo_role_a: {description: A, default: x}\n", id="missing-type-with-str-default"),
    pytest.param("demo_role_a: !unsafe '{{ x }}'\n", "demo_role_a: {description: A, type: str, default: !unsafe '{{ x }}'}\n",
                 id="unsafe-tag"),
    pytest.param("demo_role_a: '{{ demo_role_b | int + 15 }}'\ndemo_role_b: 1\n",
                 "demo_role_a: {description: A, type: int}\ndemo_role_b: {description: B, type: int, default: 1}\n",
                 id="computed-default-left-out-of-spec"),
])
def test_check_passes(tmp_path, defaults, options):
    assert role_findings(tmp_path, defaults, options) == []


@pytest.mark.parametrize("defaults, specs, expected", [
    pytest.param("demo_role_a: 1\n", "---\nargument_specs:\n  other: {options: {}}\n",
                 "meta/argument_specs.yml: has no argument_specs.main entry point", id="no-main-entry-point"),
    pytest.param("- demo_role_a\n", "---\nargument_specs:\n  main: {options: {}}\n",
                 "defaults/main.yml: is not a mapping of variables", id="defaults-not-a-mapping"),
    pytest.param("demo_role_a: [1\n", "---\nargument_specs:\n  main: {options: {}}\n",
                 "defaults/main.yml: cannot read:", id="yaml-error"),
    pytest.param("demo_role_a: 1\n", "---\nargument_specs:\n  main: {options: [a]}\n",
                 "meta/argument_specs.yml: argument_specs.main.options is not a mapping", id="options-not-a-mapping"),
])
def test_structural_failure_is_reported_alone(tmp_path, defaults, specs, expected):
    write_role(tmp_path, defaults, "", specs=specs)
    findings = role_docs.run_check(tmp_path)
    assert len(findings) == 1 and findings[0].startswith(f"roles/{ROLE}: {expected}"), findings


def test_roles_without_both_files_are_skipped(tmp_path):
    (tmp_path / "roles" / "no_specs" / "defaults").mkdir(parents=True)
    (tmp_path / "roles" / "no_specs" / "defaults" / "main.yml").write_text("x: 1\n", encoding="utf-8")
    write_role(tmp_path, "demo_role_a: 1\n", "demo_role_a: {description: A, type: int, default: 1}\n")
    assert [role.name for role in role_docs.load_roles(tmp_path)] == [ROLE]


# --- markup and cells ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    pytest.param("Use C(gthread).", "Use `gthread`.", id="C"),
    pytest.param("Needs O(demo_role_a).", "Needs `demo_role_a`.", id="O"),
    pytest.param("Set O(demo_role_a=true).", "Set `demo_role_a=true`.", id="O-with-value"),
    pytest.param("Either V(sync) or V(gthread)", "Either `sync` or `gthread`", id="V-twice"),
    pytest.param("Value V(a\\)b).", "Value `a)b`.", id="V-escaped-paren"),
    pytest.param("Very I(important) text", "Very *important* text", id="I"),
    pytest.param("B(Never) do that", "**Never** do that", id="B"),
    pytest.param("See U(https://gunicorn.org).", "See <https://gunicorn.org>.", id="U"),
    pytest.param("See L(the docs, https://docs.gunicorn.org).", "See [the docs](https://docs.gunicorn.org).", id="L"),
    pytest.param("Like M(ansible.builtin.systemd).", "Like `ansible.builtin.systemd`.", id="M"),
    pytest.param("Reads E(HOME) and RV(ret).", "Reads `HOME` and `ret`.", id="E-RV"),
    pytest.param("C(gunicorn-<app_name>.service)", "`gunicorn-<app_name>.service`", id="angle-brackets-in-code"),
    pytest.param("Dir <dir>/x", "Dir &lt;dir>/x", id="angle-brackets-in-text-escaped"),
    pytest.param("C(a`b)", "`` a`b ``", id="backtick-in-code"),
    pytest.param("ABC(x) and PC(y)", "ABC(x) and PC(y)", id="not-at-word-start"),
    pytest.param("A *.py glob", "A \\*.py glob", id="asterisk-escaped"),
    pytest.param("Multi\n  line   text", "Multi line text", id="whitespace-collapsed"),
])
def test_convert_markup(text, expected):
    assert role_docs.convert_markup(text) == expected


@pytest.mark.parametrize("description, expected", [
    pytest.param(["First C(a).", "Second I(b)."], "First `a`. Second *b*.", id="list-joined-with-spaces"),
    pytest.param("Only one.", "Only one.", id="string"),
    pytest.param(None, "", id="missing"),
])
def test_description_text(description, expected):
    assert role_docs.description_text(description) == expected


@pytest.mark.parametrize("text, expected", [
    pytest.param("P(djangoops.gunicorn.gunicorn_tune#role) runs it", "`djangoops.gunicorn.gunicorn_tune` runs it", id="P-role"),
    pytest.param("O(djangoops.gunicorn.gunicorn_django#role:main:gunicorn_django_bind)", "`gunicorn_django_bind`",
                 id="O-of-another-role"),
    pytest.param("RV(ansible_facts.gunicorn=x)", "`ansible_facts.gunicorn=x`", id="RV-with-value"),
    pytest.param("Above HORIZONTALLINE below", "Above --- below", id="horizontal-line"),
    pytest.param("See R(the guide, some_label).", "See the guide.", id="R-rst-ref-as-text"),
])
def test_convert_markup_reads_all_of_ansible_markup(text, expected):
    assert role_docs.convert_markup(text, ROLE) == expected


@pytest.mark.parametrize("description, expected", [
    pytest.param("Use C(unclosed", 'Cannot find closing ")"', id="unclosed"),
    pytest.param("Like P(not_a_fqcn).", 'is not of the form FQCN#type', id="P-without-type"),
    pytest.param("Set O(a:b:c:d).", "Invalid option/return value name", id="O-bad-name"),
])
def test_broken_markup_is_a_finding(tmp_path, description, expected):
    options = "demo_role_a: {description: %r, type: int, default: 1}\n" % description
    findings = role_findings(tmp_path, "demo_role_a: 1\n", options)
    assert len(findings) == 1 and findings[0].startswith("roles/demo_role: demo_role_a: description markup: ")
    assert expected in findings[0], findings
    with pytest.raises(ValueError, match="While parsing"):
        role_docs.convert_markup(description, ROLE)


def test_readme_says_what_the_role_does_and_lists_its_variables(tmp_path):
    specs = textwrap.dedent("""\
        ---
        argument_specs:
          main:
            short_description: Run C(demo) under systemd
            description:
              - First I(paragraph), see O(demo_role_port).
              - Second one, with M(ansible.builtin.systemd).
            options:
              demo_role_port: {description: The B(port)., type: int, default: 8000}
          rollback:
            short_description: Go back to the last good C(release)
            options: {}
        """)
    write_role(tmp_path, "demo_role_port: 8000\n", "", specs=specs)
    assert role_docs.run_render(tmp_path) == ["docs/role.md", "roles/demo_role/README.md"]
    readme = (tmp_path / "roles" / ROLE / "README.md").read_text(encoding="utf-8")
    assert readme == textwrap.dedent("""\
        # Role djangoops.gunicorn.demo_role

        %s

        Run `demo` under systemd.

        First *paragraph*, see `demo_role_port`.

        Second one, with `ansible.builtin.systemd`.

        `ansible-doc -t role djangoops.gunicorn.demo_role` shows the same options.

        Other entry points (same variables unless noted there):

        - `rollback`: Go back to the last good `release`

        ## Variables

        | Variable | Type | Default | Required | Choices | Description |
        |---|---|---|---|---|---|
        | `demo_role_port` | int | `8000` | no |  | The **port**. |
        """) % role_docs.README_HINT
    (tmp_path / "roles" / ROLE / "README.md").write_text(readme.replace("8000", "9000"), encoding="utf-8")
    assert role_docs.run_check(tmp_path) == [
        "roles/demo_role/README.md: out of date; run `python scripts/role_docs.py render`"]


@pytest.mark.parametrize("spec, expected", [
    pytest.param({"default": 30}, "`30`", id="int"),
    pytest.param({"default": False}, "`false`", id="bool"),
    pytest.param({"default": "-"}, "`-`", id="plain-str"),
    pytest.param({"default": ""}, '`""`', id="empty-str-quoted"),
    pytest.param({"default": "{{ a }}"}, "`{{ a }}`", id="jinja-raw"),
    pytest.param({"default": "a\nb\n"}, '`"a\\nb\\n"`', id="multiline-str-json"),
    pytest.param({"default": [{"path": "/healthz", "status": 200}]}, "`[{path: /healthz, status: 200}]`", id="list-of-dict-flow"),
    pytest.param({"default": {"b": 1, "a": [1, 2]}}, "`{b: 1, a: [1, 2]}`", id="dict-flow-keeps-order"),
    pytest.param({"default": {}}, "`{}`", id="empty-dict"),
    pytest.param({"required": True}, "", id="no-default"),
])
def test_default_cell(spec, expected):
    assert role_docs.default_cell(spec) == expected


@pytest.mark.parametrize("spec, expected", [
    pytest.param({"type": "list", "elements": "dict"}, "list / elements=dict", id="elements"),
    pytest.param({"type": "int"}, "int", id="plain"),
    pytest.param({}, "str", id="missing-is-str"),
])
def test_type_cell(spec, expected):
    assert role_docs.type_cell(spec) == expected


# --- render and the docs check -------------------------------------------------------------

def test_render_creates_doc_with_title_markers_and_rows_in_spec_order(tmp_path):
    write_role(tmp_path, GOOD_DEFAULTS, GOOD_OPTIONS)
    role_docs.run_render(tmp_path)
    text = (tmp_path / "docs" / "role.md").read_text(encoding="utf-8")
    assert text.startswith("# Role djangoops.gunicorn.gunicorn_django\n\n")
    assert "\n## Variables\n\n" + role_docs.BEGIN_MARKER in text
    assert text.endswith(role_docs.END_MARKER + "\n")
    rows = [line.split(" | ")[0].strip("| `") for line in text.splitlines() if line.startswith("| `")]
    assert rows == ["demo_role_name", "demo_role_port", "demo_role_dir", "demo_role_stop", "demo_role_items", "demo_role_wsgi"]
    assert "| `demo_role_name` | str |  | yes |  | Name of `it`. |" in text
    assert "| `demo_role_stop` | int | `{{ demo_role_timeout \\| int + 15 }}` | no |" in text


def test_render_changes_only_the_block_and_check_sees_staleness(tmp_path):
    write_role(tmp_path, "demo_role_a: 1\n", "demo_role_a: {description: A, type: int, default: 1}\n")
    doc = tmp_path / "docs" / "role.md"
    doc.parent.mkdir()
    before = "# My title\n\nProse the lead wrote.\n\n" + role_docs.BEGIN_MARKER + "\nold table\n"
    after = role_docs.END_MARKER + "\n\n## Later section\n\nMore prose.\n"
    doc.write_text(before + after, encoding="utf-8")
    assert role_docs.check_docs(tmp_path, role_docs.load_roles(tmp_path)) == [
        "docs/role.md: generated variables block is out of date; run `python scripts/role_docs.py render`"]
    role_docs.run_render(tmp_path)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(before.replace("\nold table\n", ""))
    assert text.endswith(after)
    assert "old table" not in text and "| `demo_role_a` | int | `1` | no |  | A |" in text
    assert role_docs.run_check(tmp_path) == []
    write_role(tmp_path, "demo_role_a: 1\n", "demo_role_a: {description: Changed, type: int, default: 1}\n")
    assert role_docs.run_check(tmp_path) == [
        "docs/role.md: generated variables block is out of date; run `python scripts/role_docs.py render`",
        "roles/demo_role/README.md: out of date; run `python scripts/role_docs.py render`"]


def test_render_appends_block_to_doc_without_markers(tmp_path):
    write_role(tmp_path, "demo_role_a: 1\n", "demo_role_a: {description: A, type: int, default: 1}\n")
    doc = tmp_path / "docs" / "role.md"
    doc.parent.mkdir()
    doc.write_text("# Title\n\nProse.\n", encoding="utf-8")
    assert role_docs.run_check(tmp_path) == [
        "docs/role.md: has no generated variables block; run `python scripts/role_docs.py render`",
        "roles/demo_role/README.md: missing; run `python scripts/role_docs.py render`"]
    role_docs.run_render(tmp_path)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nProse.\n\n## Variables\n\n" + role_docs.BEGIN_MARKER)
    assert role_docs.run_check(tmp_path) == []


@pytest.mark.parametrize("document, expected", [
    pytest.param("{b}\n{b}\n{e}\n", "expected one", id="two-begin-markers"),
    pytest.param("{e}\n{b}\n", "comes before", id="end-before-begin"),
])
def test_broken_markers(tmp_path, document, expected):
    write_role(tmp_path, "demo_role_a: 1\n", "demo_role_a: {description: A, type: int, default: 1}\n")
    doc = tmp_path / "docs" / "role.md"
    doc.parent.mkdir()
    doc.write_text(document.format(b=role_docs.BEGIN_MARKER, e=role_docs.END_MARKER), encoding="utf-8")
    findings = [finding for finding in role_docs.run_check(tmp_path) if "/README.md: " not in finding]
    assert len(findings) == 1 and findings[0].startswith("docs/role.md: ") and expected in findings[0]
    with pytest.raises(ValueError, match=expected):
        role_docs.run_render(tmp_path)


def test_pipes_in_cells_are_escaped(tmp_path):
    write_role(tmp_path, "demo_role_a: a|b\n", "demo_role_a: {description: 'x | y C(p|q)', type: str, default: a|b}\n")
    role_docs.run_render(tmp_path)
    assert "| `demo_role_a` | str | `a\\|b` | no |  | x \\| y `p\\|q` |" in (tmp_path / "docs" / "role.md").read_text(encoding="utf-8")


# --- command line --------------------------------------------------------------------------

def test_main_exit_codes_and_messages(tmp_path, capsys):
    write_role(tmp_path, "demo_role_a: 2\n", "demo_role_a: {description: A, type: int, default: 1}\n")
    assert role_docs.main(["render", "--root", str(tmp_path)]) == 0
    assert role_docs.main(["check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "roles/demo_role: demo_role_a: default in meta/argument_specs.yml (1) differs from defaults/main.yml (2)" in err
    assert "role_docs: 1 problem(s)" in err
    write_role(tmp_path, "demo_role_a: 1\n", "demo_role_a: {description: B, type: int, default: 1}\n")
    assert role_docs.main(["check", "--root", str(tmp_path)]) == 1  # the table still shows description A
    assert role_docs.main(["render", "--root", str(tmp_path)]) == 0
    assert role_docs.main(["check", "--root", str(tmp_path)]) == 0


def test_main_check_without_roles_fails(tmp_path, capsys):
    assert role_docs.main(["check", "--root", str(tmp_path)]) == 1
    assert "no role with defaults/main.yml and meta/argument_specs.yml" in capsys.readouterr().err


def test_render_refuses_unreadable_role(tmp_path, capsys):
    write_role(tmp_path, "demo_role_a: [1\n", "demo_role_a: {description: A, type: int, default: 1}\n")
    assert role_docs.main(["render", "--root", str(tmp_path)]) == 1
    assert "roles/demo_role: defaults/main.yml: cannot read:" in capsys.readouterr().err
    assert not (tmp_path / "docs" / "role.md").exists()
    assert not (tmp_path / "roles" / ROLE / "README.md").exists()
