name = "svc"

# the database password
# rotate it monthly
db_password = "hunter2" # from the vault
replicas    = 3
