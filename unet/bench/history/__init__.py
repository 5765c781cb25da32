"""The project's performance history: every saved run of one hardware key, in commit order.

- ``series``: reading the runs into per-case points (one per commit, its runs pooled);
- ``steps``: step and creep detection on those points, pure functions;
- ``page``: the static HTML page (inline SVG, works from the file) and ``plots``: PNG per group;
- ``command``: ``unet-bench history``, its arguments apart from ``run(...)``.
"""
