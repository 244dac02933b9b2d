"""What runs inside the JupyterHub process: the check against the platform before every start, the local
spawner's jail, and the hub's configurations (local, and production for systemd, Kubernetes and Slurm).

Nothing here imports Django: the hub is its own process, and talks to the platform over HTTP only.
"""
