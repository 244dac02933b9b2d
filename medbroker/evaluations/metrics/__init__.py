"""Performance metrics of a model on a test set: pure functions on numpy arrays, no Django.

``intervals`` holds the confidence intervals shared by every task (proportions, bootstrap resamples,
percentile intervals) and the ``MetricValue`` shape every metric is reported in; ``classification``,
``detection`` and ``segmentation`` compute the metrics of their task; ``files`` reads the CSV files of the
``medbroker metrics`` command.
"""
