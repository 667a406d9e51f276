for i in $(seq 1 10); do
  printf 'db:\n    password: pw-%s-secret\napi_token: tok-%s\n' "$i" "$i" > s$i.yaml
done
