"""The pytest side: the plugin's hooks (``plugin``), its options checked when parsed
(``options``), the run's state built once (``state``) and the cost and ``--verdict`` gates
(``gates``)."""
