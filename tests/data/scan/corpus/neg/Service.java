private static final String SECRET_HEADER = "X-Hub-Signature-256";
String token = request.getHeader(SECRET_HEADER);
