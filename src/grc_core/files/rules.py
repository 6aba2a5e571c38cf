"""The named rules of the attachment policy, and the refusal each one raises.

Every check an upload goes through belongs to one rule; a refusal names its rule in its
first words (``refused by rule pdf_active_content: …``) and carries it as
:attr:`AttachmentRefused.rule <grc_core.errors.AttachmentRefused>` so that the command line,
the API and the logs can all say which rule refused a file, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grc_core.errors import AttachmentRefused

#: Values of the ``scanning`` setting.
SCANNING_MODES = ("required", "optional", "off")
#: Values of the ``strip_image_metadata`` setting: ``mobile`` strips the images attached
#: from the mobile app only.
STRIP_MODES = ("always", "mobile", "never")


@dataclass(frozen=True)
class Rule:
    """One named check of the policy.

    :param name: the rule's name, shown in refusals.
    :param summary: what the rule refuses, in one line.
    :param settings: the policy columns that tune it.
    """

    name: str
    summary: str
    settings: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule("file_name", "double extensions, bidirectional or control characters, paths"),
    Rule("extension", "extensions outside the allowed list", ("allowed_extensions",)),
    Rule("size", "files larger than the maximum size", ("max_size",)),
    Rule("antivirus", "files a virus scanner refuses, or cannot scan", ("scanning",)),
    Rule("content_type", "content that is not what the extension promises"),
    Rule(
        "archive_bomb",
        "Office/OpenDocument packages inflating past the budgets (inflated, never declared)",
        ("zip_max_entries", "zip_max_uncompressed", "zip_max_ratio"),
    ),
    Rule(
        "archive_integrity",
        "damaged packages: CRC errors, encrypted entries, unsupported methods, lying headers",
    ),
    Rule("archive_names", "entry names with '..', absolute paths, or duplicates"),
    Rule("archive_nested", "archives inside packages", ("allow_nested_archives",)),
    Rule(
        "macros",
        "VBA, OLE2 objects, ActiveX, macro content types, OpenDocument Basic and scripts",
        ("allow_macros",),
    ),
    Rule("pdf_structure", "PDF files that do not parse as a well-formed document"),
    Rule(
        "pdf_active_content",
        "PDF JavaScript, OpenAction/AA actions, Launch, embedded files, RichMedia, XFA",
        ("allow_active_pdf",),
    ),
    Rule(
        "image_integrity",
        "images that do not decode whole, or have more pixels than allowed",
        ("max_image_pixels",),
    ),
    Rule("image_polyglot", "data after the image's end (JPEG EOI, PNG IEND, GIF trailer)"),
    Rule(
        "image_metadata",
        "EXIF, GPS and XMP removed from images (losslessly) before they are stored",
        ("strip_image_metadata",),
    ),
)
RULE_NAMES = frozenset(rule.name for rule in RULES)


def refusal(
    rule: str,
    message: str,
    *,
    cls: type[AttachmentRefused] = AttachmentRefused,
    field: str = "content",
) -> AttachmentRefused:
    """The error refusing a file under ``rule``: one line, naming the rule first."""
    assert rule in RULE_NAMES, rule
    line = " ".join(message.split())  # one line, whatever the cause's text held
    error = cls(f"refused by rule {rule}: {line}", field=field)
    error.rule = rule  # type: ignore[attr-defined]
    return error


def rule_of(error: BaseException) -> str | None:
    """The rule an :class:`AttachmentRefused` names (None for other errors)."""
    return getattr(error, "rule", None)


def describe_rules(policy: Any, scanner_names: list[str] | None = None) -> list[dict[str, Any]]:
    """Each rule with its current settings, for ``grc attachment policy show``.

    :param scanner_names: the active scanners; given, the antivirus rule says which are
        active, or plainly that none is.
    """
    described = []
    for rule in RULES:
        settings = {name: getattr(policy, name) for name in rule.settings}
        if name_list := settings.get("allowed_extensions"):
            settings["allowed_extensions"] = sorted(name_list)
        entry: dict[str, Any] = {"rule": rule.name, "summary": rule.summary, **settings}
        if rule.name == "antivirus" and scanner_names is not None:
            entry["scanners"] = list(scanner_names)
            entry["warning"] = scanner_warning(policy.scanning, scanner_names)
        described.append(entry)
    return described


def scanner_warning(scanning: str, scanner_names: list[str]) -> str | None:
    """What to tell an administrator about virus scanning, or None when all is well."""
    if scanning == "off":
        return "virus scanning is off: attachments are stored without being scanned"
    if scanner_names:
        return None
    if scanning == "required":
        return (
            "no virus scanner is active and scanning is required: every attachment is "
            "refused until one is configured (e.g. GRC_CLAMAV_ADDRESS for clamd)"
        )
    return (
        "no virus scanner is active: attachments are stored without being scanned "
        "(configure clamd with GRC_CLAMAV_ADDRESS)"
    )
