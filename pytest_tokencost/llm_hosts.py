"""Moved to `pytest_tokencost.providers.hosts`; this name keeps old imports working.

The module object is the moved one (not a copy), so its private names and anything patched on
it are the same under both names.
`provider_of_url` is `hosts.llm_provider_for_url`: one provider-inference rule.
"""

from __future__ import annotations

from .providers.hosts import llm_provider_for_url as provider_of_url

__all__ = ["provider_of_url"]
