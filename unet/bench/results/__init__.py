"""What runs record and where they are kept: run files (``runs``), their folders (``storage``),
the cost manifest (``manifest``), a run's identity axes (``axes``) and flagged cases explained
(``explained``). No torch."""
