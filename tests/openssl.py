"""The real OpenSSL command line, which tests use as an independent verifier."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def cms_verify(
    p7s: Path, content: Path, ca_file: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``openssl cms -verify`` of a detached DER signature, as the issue's check runs it."""
    return openssl(
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(p7s),
        "-content",
        str(content),
        "-CAfile",
        str(ca_file),
        "-purpose",
        "any",
        "-out",
        os.devnull,
        *extra,
    )
