TOKEN = "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"  # shroud:allow
# pragma: allowlist nextline secret
KEY = "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"
DB_PASSWORD = "8Yt6h7FzQlFpm1vl"  # gitleaks:allow
# shroud:allow-next-line
AWS = "AKIAVWG27OSTY7OJSC73"
