// billing
tags = {
  Name        = "web"
  // who to call
  Owner = "ops"
  Environment = "prod"
  CostCenter  = "1234"
}
