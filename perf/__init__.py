"""The performance suite: pytest-benchmark cases, budgets and stored baselines (see README, "Performance suite")."""
