"""The loop the evaluator runs for each classifier it manages: labels trigger training, the
candidate passes an offline gate, shadows, challenges on a rising share of live traffic, and
the always-valid A/B decision promotes or archives it, unless a guardrail rolls it back.

`policy` decides (pure), `observe` gathers what it decides on, `act` carries its decisions
out through the ports, and `rounds` runs one round per model in the leading replica.
"""
