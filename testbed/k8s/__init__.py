"""The Kubernetes backend (``topology: {backend: kubernetes}``): one node container runs a real
Kubernetes built offline here (k8s/, see k8s/TRIAL.md), and the Airflow roles run in it as the
official chart deploys them (Deployments, a migration Job, a pod template for the
KubernetesExecutor's task pods, RBAC for the scheduler's pod launcher), while Postgres, MinIO
and Toxiproxy stay containers beside the node, reached from the pods by address.

``node``: the node container's spec and readiness, and ``kubectl``; ``manifests``: the objects
(pure); ``deploy``: apply them and wait. The node image's recipe is with the other images
(:mod:`testbed.images.k8s_node`), the pod faults with the other faults (:mod:`testbed.faults.pod`).
"""
