"""Statistics and decisions as pure functions over numbers and records: verdicts between two
sets of samples (``verdict``), the attribution of a change to operators (``attribution``).
Imports neither torch nor files (``make lint`` checks it)."""
