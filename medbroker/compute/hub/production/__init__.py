"""The hub's production configurations, one per engine that runs the workspaces: systemd units on one GPU
server (``systemd_config.py``), pods on Kubernetes (``kubernetes_config.py``), Slurm jobs in Apptainer
(``slurm_config.py``).

They share sign-in, services and roles (``common.py``) with the local configuration, and each turns the
platform's answer into its engine's mounts, devices and limits (``engines.py``). How to deploy them:
``README.md``.
"""
