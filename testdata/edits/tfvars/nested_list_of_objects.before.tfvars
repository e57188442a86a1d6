rules = [
  {
    port     = 443
    protocol = "tcp"
  },
  {
    port     = 80
    protocol = "tcp"
  },
]
