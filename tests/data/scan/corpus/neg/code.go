token, err := oauth2.Exchange(ctx, code)
password := os.Getenv("DB_PASSWORD")
secretKey := cfg.SecretKey
