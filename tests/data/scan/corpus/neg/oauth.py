TOKEN_URL = "https://oauth2.googleapis.com/token"
PASSWORD_MIN_LENGTH = 12
PASSWORD_PARAM = "password"
auth_token = hashlib.sha256(seed).hexdigest()
