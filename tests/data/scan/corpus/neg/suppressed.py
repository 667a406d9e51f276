TOKEN = "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"  # shroud:allow
# pragma: allowlist nextline secret
KEY = "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"
DB_PASSWORD = "8uEzAzMmqJXGekXk"  # gitleaks:allow
# shroud:allow-next-line
AWS = "AKIA3EIQJXFLK5CTXHYS"
