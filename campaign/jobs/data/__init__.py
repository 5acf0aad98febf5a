"""``chggen data build``: candidates (:mod:`.build`, :mod:`.known`), their relaxation as a
job of the engine (:mod:`.relax`) into the relaxation cache (:mod:`.cache`), options
(:mod:`.options`)."""
