region        = "eu-west-1"
instance_type = "t3.micro"

tags = {
  Name = "web"
}
database = {
  engine = "postgres"
  port   = 5432
  options = {
    ssl = true
  }
}
