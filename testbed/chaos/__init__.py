"""Seeded random chaos: a generator draws faults from a seed, a workload keeps triggering runs,
and invariants are checked over the whole history; a failing record can be replayed exactly
and shrunk to a smaller scenario a person can read.

- :mod:`~testbed.scenario.chaos_generate`: the pure draw (same seed and parameters, same
  schedule), the fault model (which kinds hit which targets, and why some targets are never
  drawn); it lives with the scenario model, whose ``chaos`` step draws from it.
- :mod:`~testbed.scenario.chaos_expand`: a schedule and the plain scenario steps it runs as
  (pure data, what the scenario model's ``chaos`` step expands into).
- :mod:`~testbed.chaos.schedule`: a schedule as plain scenario steps and invariants, as YAML,
  and read back from a record's history (for ``--replay``).
- :mod:`~testbed.chaos.shrink`: delta debugging over the faults, then shorter faults and gaps,
  with the "does it still fail the same way" predicate injected.
- :mod:`~testbed.chaos.run`: the real predicate and runs on one reused cluster.
- :mod:`~testbed.chaos.cli`: ``testbed chaos``.
"""
