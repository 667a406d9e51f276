#!/usr/bin/env python3
"""Regenerates the labeled scanner corpus (deterministic). Every credential here is fake: random
bytes in the provider's format (GitHub tokens carry a correct CRC32, age keys a correct bech32
checksum) — none was ever issued by a provider.

    python3 tests/data/scan/generate.py   # rewrites tests/data/scan/corpus + manifest.json
"""
import base64, json, os, random, shutil, string, zlib, hashlib, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
R = random.Random(20261122)
ALNUM = string.ascii_letters + string.digits
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def rnd(n, alphabet=ALNUM):
    return "".join(R.choice(alphabet) for _ in range(n))

def hexs(n):
    return rnd(n, "0123456789abcdef")

def b62_6(n):
    s = ""
    for _ in range(6):
        s = B62[n % 62] + s
        n //= 62
    return s

def gh(prefix, good=True):
    r = rnd(30)
    c = b62_6(zlib.crc32(r.encode()))
    if not good:
        c = b62_6((zlib.crc32(r.encode()) + 1) % (1 << 32))
    return f"{prefix}_{r}{c}"

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def bech32_polymod(values):
    GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= GEN[i] if ((b >> i) & 1) else 0
    return chk
def bech32_encode(hrp, data8):
    acc = bits = 0; data = []
    for b in data8:
        acc = (acc << 8) | b; bits += 8
        while bits >= 5:
            bits -= 5; data.append((acc >> bits) & 31)
    if bits: data.append((acc << (5 - bits)) & 31)
    values = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp] + data
    pm = bech32_polymod(values + [0] * 6) ^ 1
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + chk)

def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")

def jwt():
    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64url(json.dumps({"sub": str(R.randint(10**6, 10**7)), "name": "Ana Ruiz", "iat": 1763800000}).encode())
    return f"{h}.{p}.{b64url(R.randbytes(32))}"

def pem(kind, nbytes=1190):
    body = base64.b64encode(R.randbytes(nbytes)).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n"

def aws_id():
    return "AKIA" + rnd(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

def aws_secret():
    while True:
        s = rnd(40, ALNUM + "/+")
        if any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s):
            return s

cases = []  # (relative path, content, expected rule ids)
def pos(path, content, *rules):
    cases.append((path, content, sorted(set(rules))))
def neg(path, content):
    cases.append((path, content, []))

# ------------------------------------------------------------------------------ positives
pos("pos/aws.env", f"AWS_ACCESS_KEY_ID={aws_id()}\nAWS_SECRET_ACCESS_KEY={aws_secret()}\nAWS_REGION=eu-west-1\n",
    "aws-access-key-id", "aws-secret-access-key")
pos("pos/aws_credentials.ini", f"[default]\naws_access_key_id = {aws_id()}\naws_secret_access_key = {aws_secret()}\n",
    "aws-access-key-id", "aws-secret-access-key")
pos("pos/deploy.py", f'import boto3\n\nclient = boto3.client("s3", aws_access_key_id="{aws_id()}")\n', "aws-access-key-id")
pos("pos/gh_classic.py", f'GITHUB_TOKEN = "{gh("ghp")}"\nheaders = {{"Authorization": f"token {{GITHUB_TOKEN}}"}}\n', "github-token")
pos("pos/gh_oauth.json", json.dumps({"oauth": {"access_token": gh("gho"), "scope": "repo"}}, indent=2) + "\n", "github-token")
pos("pos/gh_app.yaml", f"app:\n  installation_token: {gh('ghs')}\n  user_token: {gh('ghu')}\n", "github-token")
pos("pos/gh_refresh.toml", f'[github]\nrefresh = "{gh("ghr")}"\n', "github-token")
pos("pos/gh_fine.sh", f"#!/bin/sh\nexport GH_TOKEN=github_pat_{rnd(22)}_{rnd(59)}\ngh release list\n", "github-fine-grained-pat")
pos("pos/gitlab-ci.yml", f"variables:\n  GITLAB_TOKEN: glpat-{rnd(20, ALNUM + '-_')}\n", "gitlab-token")
pos("pos/slack.js", f"const slack = new WebClient('xoxb-{R.randint(10**10, 10**11)}-{R.randint(10**12, 10**13)}-{rnd(24)}');\n", "slack-token")
pos("pos/slack_hook.yaml", f"alerts:\n  webhook: https://hooks.slack.com/services/T{rnd(8, string.ascii_uppercase + string.digits)}/B{rnd(10, string.ascii_uppercase + string.digits)}/{rnd(24)}\n", "slack-webhook")
pos("pos/stripe.rb", f"Stripe.api_key = '{'sk_live_' + rnd(24)}'\n", "stripe-live-key")
pos("pos/stripe_restricted.env", f"STRIPE_KEY=rk_live_{rnd(99)}\n", "stripe-live-key")
pos("pos/maps.js", f"const MAPS = 'AIza{rnd(35, ALNUM + '-_')}';\nloadMaps(MAPS);\n", "google-api-key")
sa = {"type": "service_account", "project_id": "acme-prod-4411", "private_key_id": hexs(40),
      "private_key": pem("PRIVATE KEY"), "client_email": "ci@acme-prod-4411.iam.gserviceaccount.com",
      "client_id": str(R.randint(10**20, 10**21)), "token_uri": "https://oauth2.googleapis.com/token"}
pos("pos/gcp-sa.json", json.dumps(sa, indent=2) + "\n", "gcp-service-account")
pos("pos/azure.config", f"<add name=\"Storage\" connectionString=\"DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={base64.b64encode(R.randbytes(64)).decode()};EndpointSuffix=core.windows.net\" />\n", "azure-storage-key")
pos("pos/npmrc", f"//registry.npmjs.org/:_authToken=npm_{rnd(36)}\n", "npm-token")
pos("pos/pypirc", f"[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc{rnd(140, ALNUM + '-_')}\n", "pypi-token")
pos("pos/twilio.env", f"TWILIO_API_KEY=SK{hexs(32)}\nTWILIO_ACCOUNT_SID=AC{hexs(32)}\nTWILIO_AUTH_TOKEN={hexs(32)}\n", "twilio-api-key", "twilio-auth-token")
pos("pos/sendgrid.py", f"sg = SendGridAPIClient('SG.{rnd(22, ALNUM + '-_')}.{rnd(43, ALNUM + '-_')}')\n", "sendgrid-api-key")
discord_id = base64.b64encode(str(R.randint(10**17, 10**18)).encode()).decode().rstrip("=")
pos("pos/discord_bot.py", f"import discord\nclient.run('{discord_id}.{rnd(6, ALNUM + '-_')}.{rnd(38, ALNUM + '-_')}')\n", "discord-bot-token")
pos("pos/discord_hook.json", json.dumps({"discord": f"https://discord.com/api/webhooks/{R.randint(10**17, 10**18)}/{rnd(68, ALNUM + '-_')}"}) + "\n", "discord-webhook")
pos("pos/telegram.go", f'bot, err := tgbotapi.NewBotAPI("{R.randint(10**8, 10**9)}:AA{rnd(33, ALNUM + "-_")}")\n', "telegram-bot-token")
pos("pos/openai_proj.py", f'client = OpenAI(api_key="sk-proj-{rnd(74, ALNUM + "-_")}T3BlbkFJ{rnd(74, ALNUM + "-_")}")\n', "openai-api-key")
pos("pos/openai_legacy.ts", f'const openai = new OpenAI({{ apiKey: "sk-{rnd(20)}T3BlbkFJ{rnd(20)}" }});\n', "openai-api-key")
pos("pos/anthropic.env", f"ANTHROPIC_API_KEY=sk-ant-api03-{rnd(93, ALNUM + '-_')}AA\n", "anthropic-api-key")
pos("pos/id_rsa", pem("RSA PRIVATE KEY"), "private-key")
pos("pos/server.key", pem("PRIVATE KEY"), "private-key")
pos("pos/ec.pem", pem("EC PRIVATE KEY", 120), "private-key")
pos("pos/id_ed25519", pem("OPENSSH PRIVATE KEY", 300), "openssh-private-key")
pos("pos/signing.asc", pem("PGP PRIVATE KEY BLOCK", 900).replace("-----\n", "-----\n\n", 1), "pgp-private-key")
pos("pos/age.txt", f"# created: 2026-11-01T10:00:00Z\n# public key: {bech32_encode('age', R.randbytes(32))}\n{bech32_encode('age-secret-key-', R.randbytes(32)).upper()}\n", "age-secret-key")
pos("pos/jwt_test.http", f"GET /api/me\nAuthorization: Bearer {jwt()}\n", "jwt")
pos("pos/db.properties", f"spring.datasource.url=jdbc:postgresql://app_user:{rnd(18)}@db.prod.internal:5432/app\n", "url-password")
pos("pos/mongo.js", f"mongoose.connect('mongodb+srv://svc:{rnd(16)}@cluster0.ab1cd.mongodb.net/prod');\n", "url-password")
pos("pos/redis.yaml", f"cache:\n  url: redis://default:{rnd(24)}@redis-12345.c1.cloud.redislabs.com:12345\n", "url-password")
pos("pos/settings.yaml", f"database:\n  host: db.internal\n  user: app\n  password: \"{rnd(10)}-{rnd(6)}!\"\n", "generic-secret")
pos("pos/app.properties", f"mail.smtp.user=alerts\nmail.smtp.password={rnd(14)}\n", "generic-secret")
pos("pos/client.py", f'API_KEY = "{rnd(32)}"\nrequests.get(URL, headers={{"X-Api-Key": API_KEY}})\n', "generic-secret")
pos("pos/oauth.json", json.dumps({"client_id": "web-portal", "client_secret": rnd(40, ALNUM + '-_~')}, indent=2) + "\n", "generic-secret")
pos("pos/docker-compose.yml", f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {rnd(12)}{R.randint(10,99)}\n", "generic-secret")
pos("pos/Settings.cs", f'private const string SigningSecret = "{rnd(28)}";\n', "generic-secret")
pos("pos/k8s-secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\ntype: Opaque\ndata:\n  username: " + base64.b64encode(b"app").decode() + "\n  password: " + base64.b64encode(rnd(20).encode()).decode() + "\n", "kubernetes-secret")
pos("pos/k8s-stringdata.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n  API_URL: https://api.example.org\n  SIGNING_KEY: {rnd(20)}\n", "kubernetes-secret")
pos("pos/k8s-multi.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  LOG: debug\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  tls.key: " + base64.b64encode(R.randbytes(48)).decode() + "\n", "kubernetes-secret")
# The file must be encrypted, and the value in it is a real password: both are reported.
pos("secrets/prod.yaml", f"database:\n  user: app\n  pass: {rnd(8)}\n", "sops-unencrypted-file", "generic-secret")
pos("secrets/prod.env", f"FEATURE_FLAG=on\nDB_PASS={rnd(6)}\n", "sops-unencrypted-file")
SOPS_META = ("sops:\n    age:\n        - recipient: " + bech32_encode('age', R.randbytes(32)) + "\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            "
             + base64.b64encode(R.randbytes(180)).decode() + "\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2026-11-01T10:00:00Z\"\n    mac: "
             + "ENC[AES256_GCM,data:" + base64.b64encode(R.randbytes(64)).decode() + ",iv:" + base64.b64encode(R.randbytes(32)).decode() + ",tag:" + base64.b64encode(R.randbytes(16)).decode() + ",type:str]\n")
def enc(n=12):
    return "ENC[AES256_GCM,data:" + base64.b64encode(R.randbytes(n)).decode() + ",iv:" + base64.b64encode(R.randbytes(32)).decode() + ",tag:" + base64.b64encode(R.randbytes(16)).decode() + ",type:str]"
pos("secrets/half.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n    name: half\ndata:\n    a: {enc()}\n    b: {base64.b64encode(rnd(12).encode()).decode()}\n" + SOPS_META + "    encrypted_regex: ^(data|stringData)$\n    version: 3.13.2\n", "sops-plaintext-value")

pos("pos/main.tf", f'resource "aws_db_instance" "db" {{\n  username = "app"\n  password = "{rnd(14)}!{R.randint(10, 99)}"\n}}\n', "generic-secret")
pos("pos/netrc", f"machine api.heroku.com\n  login ops@example.org\n  password {rnd(32, '0123456789abcdef-')}\n", "netrc-password")
pos("pos/Dockerfile", f"FROM alpine:3.20\nENV API_TOKEN={rnd(40)}\nCMD [\"/app\"]\n", "generic-secret")
pos("pos/deploy.sh", f"#!/bin/sh\nexport SECRET_KEY='{rnd(50, ALNUM + '!@#%^*-_=+')}'\n./manage.py migrate\n", "generic-secret")
pos("pos/config.json", json.dumps({"service": {"apiKey": rnd(39), "region": "eu"}}, indent=2) + "\n", "generic-secret")
pos("pos/application.yml", f"spring:\n  datasource:\n    url: jdbc:mysql://db:3306/app\n    username: app\n    password: {rnd(9)}{R.randint(100,999)}\n", "generic-secret")
pos("pos/ghs_in_ci.yml", f"steps:\n  - run: git clone https://x-access-token:{gh('ghs')}@github.com/acme/infra.git\n", "github-token")

# ------------------------------------------------------------------------------ negatives
neg("neg/uuids.py", "".join(f'REQUEST_ID_{i} = "{uuid.UUID(int=R.getrandbits(128), version=4)}"\n' for i in range(5)) + f'session_token = "{uuid.UUID(int=R.getrandbits(128), version=4)}"\n')
neg("neg/git_shas.txt", "".join(f"commit {hexs(40)}\nMerge: {hexs(7)} {hexs(7)}\n" for _ in range(5)))
neg("neg/Cargo.lock", "".join(f'[[package]]\nname = "crate{i}"\nversion = "1.0.{i}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "{hexs(64)}"\n\n' for i in range(6)))
neg("neg/package-lock.json", json.dumps({"packages": {f"node_modules/p{i}": {"version": "1.2.3", "resolved": f"https://registry.npmjs.org/p{i}/-/p{i}-1.2.3.tgz", "integrity": "sha512-" + base64.b64encode(R.randbytes(64)).decode()} for i in range(6)}}, indent=2) + "\n")
neg("neg/sums.sha512", "".join(f"{hashlib.sha512(R.randbytes(8)).hexdigest()}  dist/file{i}.tar.gz\n" for i in range(4)))
neg("neg/image.css", ".logo { background: url(data:image/png;base64," + base64.b64encode(R.randbytes(3000)).decode() + "); }\n")
neg("neg/index.html", f'<script src="https://cdn.example.net/lib.js" integrity="sha384-{base64.b64encode(R.randbytes(48)).decode()}" crossorigin="anonymous"></script>\n<img src="data:image/gif;base64,{base64.b64encode(R.randbytes(600)).decode()}">\n')
neg("neg/docker.txt", "".join(f"image: registry.example.com/app@sha256:{hexs(64)}\n" for _ in range(3)))
neg("neg/aws_docs.md", "Use the example credentials:\n\n    AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n    AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
neg("neg/gh_badcrc.py", f'TOKEN = "{gh("ghp", good=False)}"\nOTHER = "{gh("gho", good=False)}"\nRANDOM = "ghp_{rnd(36)}"\n')
neg("neg/placeholders.env", "DB_PASSWORD=changeme\nAPI_KEY=your-api-key\nSECRET_TOKEN=${SECRET_TOKEN}\nREDIS_PASSWORD=<password>\nSTRIPE_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx\nGITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nADMIN_PASSWORD=aaaaaaaaaaaa\nJWT_SECRET=$JWT_SECRET\n")
neg("neg/values.yaml", "auth:\n  password: \"{{ .Values.db.password }}\"\n  token: '{{ required \"token\" .Values.token }}'\n  apiKey: ${API_KEY}\n  secret: \"<your-secret-here>\"\n")
neg("neg/code.py", "password = getpass.getpass('Password: ')\ntoken = request.headers.get('Authorization')\nsecret_name = 'prod-db-credentials'\npassword_field = 'password'\napi_key = os.environ['API_KEY']\nself.token = token\nif password == confirm_password:\n    pass\n")
neg("neg/code.rs", "const TOKEN_TYPE: &str = \"bearer\";\nlet password = prompt_password(\"db password: \")?;\nlet secret = config.secret.clone();\nlet token = Token::new(&claims, &key)?;\n")
neg("neg/code.go", "token, err := oauth2.Exchange(ctx, code)\npassword := os.Getenv(\"DB_PASSWORD\")\nsecretKey := cfg.SecretKey\n")
neg("neg/k8s-template.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tmpl\nstringData:\n  password: changeme\n  token: \"${TOKEN}\"\n  user: <user>\n")
neg("neg/k8s-encrypted.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n    name: enc\ndata:\n    password: {enc()}\n    token: {enc(30)}\n" + SOPS_META + "    encrypted_regex: ^(data|stringData)$\n    version: 3.13.2\n")
neg("secrets/encrypted.yaml", f"database:\n    user: {enc(3)}\n    pass: {enc(16)}\n" + SOPS_META + "    unencrypted_suffix: _unencrypted\n    version: 3.13.2\n")
neg("neg/jwt_docs.md", "A JWT looks like `eyJhbGciOiJIUzI1NiIs...` followed by a payload.\nHeader: eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9 (truncated)\n")
neg("neg/urls.md", "- https://user@github.com/acme/repo.git\n- postgres://app:${DB_PASS}@db:5432/app\n- http://localhost:8080/health\n- postgres://user:password@localhost/db\n- redis://:****@cache:6379\n- amqp://guest:guest@localhost:5672\n- https://admin:<password>@example.com\n")
neg("neg/cert.pem", pem("CERTIFICATE", 900) + pem("PUBLIC KEY", 294))
neg("neg/key_docs.md", "Put your key in the file:\n\n```\n-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n```\n")
neg("neg/age_recipients.txt", "".join(bech32_encode('age', R.randbytes(32)) + "\n" for _ in range(3)))
neg("neg/bad_age.txt", "AGE-SECRET-KEY-1" + rnd(58, CHARSET.upper()) + "\n")
neg("neg/ui.css", ".sk-spinner { color: #333; }\n.sk-proj-card { margin: 0; }\n/* AIza keys go in config */\n")
neg("neg/slack_docs.md", "Set `SLACK_TOKEN=xoxb-your-token-here` and the webhook https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\n")
neg("neg/minified.js", "".join(f"function {rnd(2, string.ascii_lowercase)}(a,b){{return a.{rnd(6, string.ascii_lowercase)}(b)}}" for _ in range(200)) + "\n")
neg("neg/lorem.txt", "Lorem ipsum dolor sit amet, the secret to good tokens is entropy. Password policies: at least 12 characters.\nThe token endpoint returns an access token.\n")
neg("neg/hashes.json", json.dumps({"files": {f"f{i}.js": hashlib.sha256(R.randbytes(8)).hexdigest() for i in range(5)}, "md5": hashlib.md5(b"x").hexdigest()}, indent=1) + "\n")
neg("neg/suppressed.py", f'TOKEN = "{gh("ghp")}"  # shroud:allow\n# pragma: allowlist nextline secret\nKEY = "{gh("ghp")}"\nDB_PASSWORD = "{rnd(16)}"  # gitleaks:allow\n# shroud:allow-next-line\nAWS = "{aws_id()}"\n')
neg("neg/npm_docs.md", "Token format: `npm_` followed by 36 characters, e.g. npm_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.\n")
neg("neg/versions.txt", "python=3.11.7\nnode=v20.11.1\nbuild_id=20261122.4\n" + "".join(f"asset-{hexs(8)}.js\n" for _ in range(5)))
neg("neg/i18n.json", json.dumps({"login": {"password": "Password", "forgot_password": "Forgot your password?", "token_expired": "Your session token expired"}}, indent=2) + "\n")
neg("neg/test_fixture.yaml", "users:\n  - name: alice\n    password_hash: \"$2b$12$" + rnd(53, ALNUM + "./") + "\"\n    token_ttl: 3600\n")
neg("neg/gcp-no-key.json", json.dumps({"type": "service_account", "project_id": "demo", "client_email": "x@demo.iam.gserviceaccount.com"}, indent=2) + "\n")
neg("neg/workflow.yml", "jobs:\n  deploy:\n    steps:\n      - uses: docker/login-action@v3\n        with:\n          password: ${{ secrets.DOCKERHUB_TOKEN }}\n          username: ${{ vars.DOCKERHUB_USER }}\n")
neg("neg/oauth.py", 'TOKEN_URL = "https://oauth2.googleapis.com/token"\nPASSWORD_MIN_LENGTH = 12\nPASSWORD_PARAM = "password"\nauth_token = hashlib.sha256(seed).hexdigest()\n')
neg("neg/flags.yaml", "auth:\n  secret: true\n  token: null\n  password_min_length: 12\n  secretName: my-tls-secret\n  tokenTTL: 3600s\n")
neg("neg/model.go", "type Login struct {\n\tPassword string `json:\"password\"`\n\tToken    string `json:\"token,omitempty\"`\n}\n")
neg("neg/messages.properties", "password.too.short=Your password must contain at least 8 characters\ntoken.expired=Your session has expired, please sign in again\n")
neg("neg/env.example", "SECRET_KEY=\nDATABASE_PASSWORD=\nAPI_TOKEN=replace-me\n")
neg("neg/Service.java", 'private static final String SECRET_HEADER = "X-Hub-Signature-256";\nString token = request.getHeader(SECRET_HEADER);\n')
neg("neg/terraform_vars.tf", 'variable "db_password" {\n  type      = string\n  sensitive = true\n}\npassword = var.db_password\n')
neg("neg/gen_fixtures.sh", "for i in $(seq 1 10); do\n  printf 'db:\\n    password: pw-%s-secret\\napi_token: tok-%s\\n' \"$i\" \"$i\" > s$i.yaml\ndone\n")
# Self-describing fixture values are still credentials someone can log in with (the labelled
# real-code corpus, credata-dev, counts them as secrets): reported.
pos("pos/fixture_test.rs", 'let obj = serde_json::json!({"username": "YWRtaW4=", "password": "hunter2-secret"});\nlet url = "postgres://app:my-db-password@localhost/app";\n', "generic-secret", "url-password")

if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    manifest = []
    for path, content, rules in cases:
        full = os.path.join(OUT, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(content)
        manifest.append({"file": path, "expected": rules})
    with open(os.path.join(OUT, ".sops.yaml"), "w") as f:
        f.write("creation_rules:\n  - path_regex: ^secrets/\n    age: " + bech32_encode('age', bytes(32)) + "\n")
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(manifest)} files, {sum(1 for m in manifest if m['expected'])} positive")
