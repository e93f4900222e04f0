package e2e

import (
	"testing"
)

// TestBrowserChat: the chat drawer on the dashboard — ask, see the summary,
// confirm with the button, see the result (and two processes in the process
// table); a generated spec shows in a code block whose Apply proposes its
// creation; no console errors.
func TestBrowserChat(t *testing.T) {
	b := StartBerth(t, "", "")
	b.MustDo(201, "PUT", "/api/v1/services/web", webSpec(1, "hi"))
	waitRunning(t, b, "web", 1)
	d := openDashboard(t, b)
	d.open("#/login")
	d.loginOK("admin", adminPassword, "admin")

	d.Click("chat-toggle")
	d.WaitVisible("chat-drawer")
	d.SetValue("chat-input", "how is web doing?")
	d.Click("chat-send")
	d.WaitText("chat-answer", "web on local: RUNNING, 1/1 ready")

	d.SetValue("chat-input", "scale it to 2")
	d.Click("chat-send")
	d.WaitText("chat-summary", "scale web on local from 1 to 2 replicas")
	if got := waitProcs(t, "web", 1); len(got) != 1 {
		t.Fatalf("processes before confirming: %v", got)
	}
	d.Click("chat-confirm-ok")
	d.WaitText("chat-result", "service.scale web: web on local scaled to 2 replicas")
	waitProcs(t, "web", 2)
	d.check()

	// Another page keeps the drawer (it is part of the frame).
	d.Click("nav-services")
	d.WaitHash("#/services")
	d.WaitVisible("chat-drawer")

	d.SetValue("chat-input", "create a redis service")
	d.Click("chat-send")
	d.WaitText("chat-code", "redis-server")
	d.Click("chat-apply")
	d.WaitText("chat-summary", "create service redis on local from the generated spec")
	d.Click("chat-confirm-cancel")
	d.WaitText("chat-confirm", "Cancelled: nothing was done.")
	if code, _ := b.Do(b.Token(), "GET", "/api/v1/services/redis", nil); code != 404 {
		t.Fatalf("cancelled apply created redis: %d", code)
	}
	d.check()
}
