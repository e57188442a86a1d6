zones  = ["a", "b", "c"]
labels = { tier = "front", team = "core" }
ports  = [443]
