"""Signatures as the reports print them (21 CFR Part 11 §11.50): what was signed, by whom, meaning what, when.

Each report lists the signatures of the records it shows in a table of :class:`SignatureLine`,
and prints a signed record's signature next to it with :func:`stampside.app.domain.signatures.manifestation`
(the ``signed`` filter of :mod:`stampside.app.reports.render`), the same words the app shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stampside.app.domain.signatures import SignatureMark, SignatureMeaning

__all__ = ["SignatureLine", "signature_line"]


@dataclass(frozen=True, slots=True)
class SignatureLine:
    """One signature: the record it signs (for people), the signer's name as signed, the meaning, the time."""

    what: str
    signer: str
    meaning: SignatureMeaning
    signed_at: datetime


def signature_line(what: str, mark: SignatureMark) -> SignatureLine:
    return SignatureLine(what, mark.signer, mark.meaning, mark.signed_at)
