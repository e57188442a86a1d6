name = "web"
size = {
  min = 1
  max = 3
}
tags = {
  a = "1"
  b = "2"
}
