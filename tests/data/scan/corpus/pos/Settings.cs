private const string SigningSecret = "pVKKt6zD0S2hMhMOJ8NQBWwqppdG";
