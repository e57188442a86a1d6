// billing
tags = {
  Name        = "web"
  Environment = "prod"
}
