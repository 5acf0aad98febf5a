"""What differs between long jobs: each kind of work as a job of the task engine.

* :mod:`campaign.jobs.tasks`: the campaign's tasks (ids, seeds, specs, the planning rules);
* :mod:`campaign.jobs.campaign`: the campaign as a job (first-stage tasks, then one
  inpainting task per selected host), run on Ray by :mod:`campaign.distributed`;
* :mod:`campaign.jobs.chain`: the same chain in this process (``chggen generate`` /
  ``inpaint``, the Python API);
* :mod:`campaign.jobs.benchmark`: ``chggen benchmark csp|hosts``;
* :mod:`campaign.jobs.data`: ``chggen data build`` (candidates, relaxation cache, selection).
"""
