"""The Kubernetes adapter: manifests rendered from the domain, applied, and watched to the end.

`manifests` and `rollout` are pure translations (domain → dicts, dicts → verdicts) so they are
tested without a cluster; the thin I/O that applies and reads objects sits beside them.
"""
