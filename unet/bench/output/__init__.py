"""What a reader sees: every plain and Markdown table (``render``), the study's tables and plots
(``report``), the layer-choice Pareto front (``pareto``) and runs of other axes side by side
(``sidebyside``)."""
