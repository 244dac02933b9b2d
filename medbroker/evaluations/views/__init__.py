"""The performance-test pages: test sets (staff), evaluations with their plan and submissions, runs with
their results and reports, and the report check open to every signed-in user."""
