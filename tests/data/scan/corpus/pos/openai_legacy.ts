const openai = new OpenAI({ apiKey: "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" });
