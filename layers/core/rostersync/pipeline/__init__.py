"""The sync pipeline's steps: what each state of the sync state machine does.

Every step is a function taking a pydantic input model (see :mod:`rostersync.pipeline.events`) and
the injected adapters (:class:`rostersync.pipeline.ports.Deps`) and returning a pydantic output.
Nothing here imports boto3 or reads the environment; the Lambda handlers build the adapters from
:class:`rostersync.pipeline.config.PipelineConfig` and call one step each.
"""
