API_KEY = "qBfvLw3ZoIx8Dj4y7wPolwxLDI8ZJujf"
requests.get(URL, headers={"X-Api-Key": API_KEY})
