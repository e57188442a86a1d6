user_data = <<-EOT
  #!/bin/sh
  echo hello
  EOT
count = 1
