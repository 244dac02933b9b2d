"""Services of performance tests: test sets, evaluations and their plans, submissions, runs, reports."""
