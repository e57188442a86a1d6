region        = "eu-west-1"
ami           = "ami-0abc"
instance_type = "t3.micro"

tags = {
  Name = "web"
}
