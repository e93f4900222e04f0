package api

// Ack is the answer of calls that only confirm: {"message","id"} or {"message","name"}.
type Ack struct {
	Message string `json:"message"`
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
}

// Page is what every paged list carries beside its items:
// {"<items>": […], "total", "page", "pageSize"}. Embed it in a list body.
type Page struct {
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"pageSize"`
}
