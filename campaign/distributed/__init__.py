"""The Ray side of chggen: the campaign driver, its actors, and the toolkit both Ray
drivers (the campaign and ``chggen data build``) share."""
