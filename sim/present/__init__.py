"""Presentation: what people read about runs, drawn from their `sim.results.Results` (or
summaries), never from the engine.

- `formatting`: every number and axis unit for people (units from `sim.observe.kpis`);
- `plots`: the figures of one run;
- `compare`: runs side by side (the KPI table and its figure);
- `html`: report.html;
- `terminal`: what `run` and `compare` print.
"""
