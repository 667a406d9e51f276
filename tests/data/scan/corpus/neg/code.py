password = getpass.getpass('Password: ')
token = request.headers.get('Authorization')
secret_name = 'prod-db-credentials'
password_field = 'password'
api_key = os.environ['API_KEY']
self.token = token
if password == confirm_password:
    pass
