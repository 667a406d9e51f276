let obj = serde_json::json!({"username": "YWRtaW4=", "password": "hunter2-secret"});
let url = "postgres://app:my-db-password@localhost/app";
