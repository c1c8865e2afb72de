"""The sync pipeline: one module per stage a sync goes through, in the order it lives.

intake (arrival, settle, lock) → pull (scheduled pulls) → stage (normalize, diff) → decide
(evaluate, await a decision; :mod:`.decisions` for the API's side) → release (apply, notify) →
finish. Every stage function takes a pydantic input model (:mod:`.events`) and the injected
adapters (:class:`.ports.Deps`) and returns a pydantic output; :mod:`.dispatch` maps a step to
its function. Nothing here imports boto3, requests or paramiko or reads the environment: the
composition root (:mod:`rostersync.runtime`) builds the adapters (:func:`rostersync.aws.build_deps`).
"""
