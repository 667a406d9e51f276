const TOKEN_TYPE: &str = "bearer";
let password = prompt_password("db password: ")?;
let secret = config.secret.clone();
let token = Token::new(&claims, &key)?;
