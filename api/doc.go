// Package api holds the request and response bodies of berth's HTTP API
// (/api/v1), as coder's codersdk does: the server (httpapi) encodes these
// types, the Go client (client) and the CLI decode them, and the end-to-end
// tests read answers into them, so the three cannot drift apart. One file
// per area (services.go, environments.go, recommendations.go, …); domain
// types that are already the wire format (berth.Service, berth.Environment)
// are used as they are, and this package only adds the envelopes, lists
// and bodies that exist for the API alone.
package api
