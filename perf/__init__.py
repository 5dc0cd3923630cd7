"""The performance suite: pytest-benchmark cases, budgets and stored baselines (see CONTRIBUTING.md, "Performance suite")."""
