"""The simulated cluster's controllers: workloads (Deployment, ReplicaSet, scheduler, kubelet), Chaos Mesh, Litmus."""
