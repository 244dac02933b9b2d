"""Performance testing of a company's AI algorithm on held-out data (announcement §4 ⑤): test sets, the
analysis plan locked before any result exists, submissions (an ONNX model or a predictions file), sandboxed
runs, metrics with confidence intervals, and signed test reports."""
