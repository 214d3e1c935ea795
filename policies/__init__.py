"""The macvtap-guardrails policy pack (``policies.guardrails``); the CLI runs ``__main__.py``."""
