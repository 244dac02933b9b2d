"""Services of the agreements app: the agreement's life (``agreements``), its signatures (``signatures``),
the generated agreement document (``documents``) and the performance-test requests (``test_requests``)."""
