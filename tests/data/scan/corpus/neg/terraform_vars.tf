variable "db_password" {
  type      = string
  sensitive = true
}
password = var.db_password
