name = "svc"

replicas    = 3
