"""Optional integrations with other libraries, each importable only with its extra.

- ``fiko_billing.contrib.drf``: Django REST framework (``pip install "fiko-billing[drf]"``);
- ``fiko_billing.contrib.ninja``: django-ninja (``pip install "fiko-billing[ninja]"``).

Nothing else in the package imports them.
"""

from __future__ import annotations


def missing_extra(library: str, extra: str, module: str) -> ImportError:
    """The error a contrib module raises when its library is not installed."""
    return ImportError(
        f'{module} needs {library}, which is not installed: pip install "fiko-billing[{extra}]"'
    )
