"""Everything a user hands chggen, checked before any work: files read with bounds, YAML
without alias bombs, sizes within :class:`~campaign.inputs.limits.Limits`, structures
checked once (:mod:`campaign.inputs.structures`). Light imports only (stdlib, PyYAML,
pydantic), so a bad input is refused in well under a second."""
