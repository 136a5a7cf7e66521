"""Personal identifiers written partly hidden, where the full value is not needed.

The audit trail records what each form submission said (the legal record of the act) but keeps a
consumer's CPF, e-mail and phone masked: the full values live in the case data, which is read under
access control and logged. Masks follow the federal government's usual form (CPF ``***.982.247-**``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: form field types whose values identify or reach a person
PERSONAL_TYPES = frozenset({"cpf", "email", "phone"})


def mask_cpf(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) != 11:
        return "***"
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"(**) *****-{digits[-4:]}" if len(digits) >= 8 else "***"


MASKS = {"cpf": mask_cpf, "email": mask_email, "phone": mask_phone}


def mask_value(kind: str, value: Any) -> Any:
    """``value`` masked when ``kind`` is a personal type and the value is text; otherwise unchanged."""
    mask = MASKS.get(kind)
    if mask is None or not isinstance(value, str) or not value:
        return value
    return mask(value)


def mask_submission(field_types: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, Any]:
    """A form submission with its personal fields (by the form's field types) masked."""
    return {name: mask_value(field_types.get(name, ""), value) for name, value in data.items()}
