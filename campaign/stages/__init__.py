"""The CHGGen stages bound to their resources: :mod:`.resources` loads the score model,
the potential and the hull once per process; :mod:`.runner` runs the stages on them
(the same :class:`~campaign.stages.runner.StageRunner` in process and in every actor)."""
