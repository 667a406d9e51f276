type Login struct {
	Password string `json:"password"`
	Token    string `json:"token,omitempty"`
}
