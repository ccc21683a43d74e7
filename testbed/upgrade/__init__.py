"""Upgrade drills' groundwork: each version's schema head read from its own code
(:mod:`~testbed.upgrade.versions`), the guide's upgrade plan between two versions
(:mod:`~testbed.upgrade.plan`), and the probes the upgrade checks need
(:mod:`~testbed.upgrade.observe`)."""
