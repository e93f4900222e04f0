package core

import (
	"context"

	"github.com/berthhq/berth"
)

// singleTenant refuses a non-admin's change that would run code on a target
// that cannot keep berth's users apart (TargetInfo.SingleTenant: the local
// runtime when berth is not root, where every workload runs as berth's own
// user and could read berth's database and key). Stopping and deleting run
// nothing and stay allowed.
func singleTenant(ctx context.Context, info berth.TargetInfo, op string) error {
	if !info.SingleTenant || op == "stop" || op == "delete" {
		return nil
	}
	if a := caller(ctx); a.Role == berth.RoleAdmin {
		return nil
	}
	return berth.Errorf(berth.EFORBIDDEN, "target %q runs every workload as berth's own user (berth does not run as root), "+
		"so only admins may create or change services and environments there", info.Name)
}
