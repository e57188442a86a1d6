zones  = ["a", "b"]
labels = { app = "web", tier = "front" }
ports  = []
