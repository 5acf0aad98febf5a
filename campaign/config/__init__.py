"""A campaign's configuration: the YAML model (:mod:`.model`, its sections in
:mod:`.sections`), compositions (:mod:`.compositions`) and cluster recipes
(:mod:`.recipes`)."""
