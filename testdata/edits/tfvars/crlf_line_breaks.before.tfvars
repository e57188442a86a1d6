name = "web"
tags = {
  a = "1"
}
