GITHUB_TOKEN = "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"
headers = {"Authorization": f"token {GITHUB_TOKEN}"}
