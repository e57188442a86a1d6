user_data = <<-EOT
  #!/bin/sh
  echo goodbye
  exit 0
  EOT
count = 2
