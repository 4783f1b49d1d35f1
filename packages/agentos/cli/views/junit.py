"""``policy test --junit FILE``: the policy's test cases as JUnit XML, the report CI systems
(GitLab, Jenkins, GitHub test reporters) read.

``<testsuites>`` holds one ``<testsuite>`` per case file, named by the file, with one
``<testcase>`` per case (``classname`` the file, ``name`` the case). A case that fails has a
``<failure>`` whose ``message`` is its first failure and whose text is every failure, then
the decision and the rules that found something.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentos.governance.policytest import CaseResult
    from agentos.pipeline.results import PolicyTested

# Characters XML 1.0 cannot hold at all (a YAML case name may carry them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _explanation(case: CaseResult) -> str:
    rules = ", ".join(case.rules) or "none"
    return "\n".join([*case.failures, f"decision: {case.decision}; findings from: {rules}"])


def junit_xml(tested: PolicyTested) -> str:
    """The JUnit XML document of ``tested``."""
    from xml.etree import ElementTree as ET

    root = ET.Element(
        "testsuites",
        name="agentos policy test",
        tests=str(len(tested.cases)),
        failures=str(len(tested.failed)),
        errors="0",
    )
    files = list(dict.fromkeys(case.file for case in tested.cases))
    for file in files:
        cases = [case for case in tested.cases if case.file == file]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_xml_text(file),
            tests=str(len(cases)),
            failures=str(sum(1 for case in cases if not case.passed)),
            errors="0",
            skipped="0",
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="policy", value=_xml_text(tested.source))
        for case in cases:
            element = ET.SubElement(
                suite, "testcase", classname=_xml_text(file), name=_xml_text(case.name)
            )
            if not case.passed:
                failure = ET.SubElement(
                    element,
                    "failure",
                    message=_xml_text(case.failures[0]),
                    type="policy-test",
                )
                failure.text = _xml_text(_explanation(case))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'
