resource "aws_db_instance" "db" {
  username = "app"
  password = "gYzC6sLmnUax52!29"
}
