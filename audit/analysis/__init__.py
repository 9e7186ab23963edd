"""Statistics of an audit run: win rates, aggregates, position, regressions, power, paper counts."""
