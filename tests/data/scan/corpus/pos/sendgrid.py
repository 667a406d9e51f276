sg = SendGridAPIClient('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')
