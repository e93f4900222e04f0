package api

import "github.com/berthhq/berth"

// AuditList is one page of the audit log, newest first (GET /api/v1/logs).
type AuditList struct {
	Logs []*berth.AuditEntry `json:"logs"`
	Page
}
