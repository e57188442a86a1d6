rules = [
  {
    port     = 8443
    protocol = "tcp"
  },
  {
    port = 22
    cidr = "10.0.0.0/8"
  },
]
