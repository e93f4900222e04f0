package aci

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/berthhq/berth"
)

// Inventory resource types of this runtime.
const (
	TypeContainerGroup = "containergroup"
	TypeFileShare      = "fileshare"
)

// Inventory lists berth's container groups in this target's region and
// berth's shares in its storage account. One whose environment the store
// does not know (Config.Known) is orphaned.
//
// Resources another berth installation made (their installation tag is not
// Config.InstallationID) are left out: they are not this berth's to report
// or remove. A group's status is its instance view's state (Running,
// Stopped), read as the sync loop reads it: the listing has no instance view.
func (r *Runtime) Inventory(ctx context.Context) ([]berth.Resource, error) {
	var out []berth.Resource
	listed, err := r.listed(ctx)
	if err != nil {
		return nil, err
	}
	groupNames := make([]string, 0, len(listed))
	for name := range listed {
		groupNames = append(groupNames, name)
	}
	sort.Strings(groupNames)
	for _, name := range groupNames {
		g := listed[name]
		if !r.ownGroup(g) || !sameRegion(deref(g.Location), r.cfg.Region) {
			continue
		}
		id := deref(g.Tags[tagID])
		if id == "" {
			id = envIDOfGroup(name)
		}
		if seen, err := r.observe(ctx, name); err == nil && seen != nil {
			g = seen
		}
		status := deref(g.Properties.ProvisioningState)
		if s := instanceState(g); s != "" && strings.EqualFold(status, "Succeeded") {
			status = s
		}
		if status == "" {
			status = "Unknown"
		}
		details := map[string]any{"environment": id, "owner": deref(g.Tags[tagOwner]), "region": r.cfg.Region}
		if g.Properties.IPAddress != nil {
			details["ip"] = deref(g.Properties.IPAddress.IP)
			details["fqdn"] = deref(g.Properties.IPAddress.Fqdn)
		}
		if inst := deref(g.Tags[tagInstallation]); inst != "" {
			details["installation"] = inst
		}
		orphan, err := r.orphaned(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, berth.Resource{Type: TypeContainerGroup, ID: name, Name: name, Target: r.cfg.Name,
			Namespace: r.cfg.ResourceGroup, Status: status, Managed: true, Orphaned: orphan, Details: details})
	}
	shares := r.shares.NewListPager(r.storageRG(), r.cfg.StorageAccount, nil)
	for shares.More() {
		page, err := shares.NextPage(ctx)
		if err != nil {
			return nil, r.azError(err, "list file shares of %s", r.cfg.StorageAccount)
		}
		for _, s := range page.Value {
			if s == nil || !strings.HasPrefix(deref(s.Name), sharePrefix) {
				continue
			}
			name := deref(s.Name)
			meta := map[string]*string{}
			if s.Properties != nil && s.Properties.Metadata != nil {
				meta = s.Properties.Metadata
			} else {
				// A listing may leave metadata out: read the share itself.
				got, err := r.shares.Get(ctx, r.storageRG(), r.cfg.StorageAccount, name, nil)
				if err != nil {
					if isNotFound(err) {
						continue
					}
					return nil, r.azError(err, "read file share %s", name)
				}
				if got.FileShareProperties != nil && got.FileShareProperties.Metadata != nil {
					meta = got.FileShareProperties.Metadata
				}
			}
			if deref(meta[metaManagedBy]) != managedByValue || !r.ownInstallation(deref(meta[metaInstallation])) {
				continue
			}
			id := deref(meta[metaID])
			if id == "" {
				id = envIDOfShare(name)
			}
			details := map[string]any{"environment": id, "owner": deref(meta[metaOwner]), "storageAccount": r.cfg.StorageAccount}
			if inst := deref(meta[metaInstallation]); inst != "" {
				details["installation"] = inst
			}
			if s.Properties != nil && s.Properties.ShareQuota != nil {
				details["quotaGB"] = *s.Properties.ShareQuota
			}
			orphan, err := r.orphaned(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, berth.Resource{Type: TypeFileShare, ID: name, Name: name, Target: r.cfg.Name,
				Namespace: r.cfg.StorageAccount, Status: "Available", Managed: true, Orphaned: orphan, Details: details})
		}
	}
	return out, nil
}

// ownGroup says whether g is berth's and this installation's.
func (r *Runtime) ownGroup(g *armcontainerinstance.ContainerGroup) bool {
	return deref(g.Tags[tagManagedBy]) == managedByValue && r.ownInstallation(deref(g.Tags[tagInstallation]))
}

// ownInstallation: a resource tagged by another installation is not this
// one's. One without the tag predates it: it is listed and may be removed by
// hand, but orphan cleanup leaves it alone (see autoRemovable).
func (r *Runtime) ownInstallation(tag string) bool {
	return tag == "" || tag == r.cfg.InstallationID
}

// autoRemovable says whether orphan cleanup may remove it: only what this
// installation tagged as its own.
func (r *Runtime) autoRemovable(it berth.Resource) bool {
	inst, _ := it.Details["installation"].(string)
	return inst == r.cfg.InstallationID
}

func (r *Runtime) orphaned(ctx context.Context, envID string) (bool, error) {
	if r.cfg.Known == nil || envID == "" {
		return false, nil
	}
	known, err := r.cfg.Known(ctx, envID)
	if err != nil {
		return false, berth.Wrap(err, berth.EUNAVAILABLE, "look up environment %s", envID)
	}
	return !known, nil
}

// sameRegion compares Azure locations, which come back as "eastus" or
// "East US".
func sameRegion(a, b string) bool {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }
	return norm(a) == norm(b)
}

// DeleteResource removes one of berth's container groups or file shares.
// Resources berth did not tag are refused.
func (r *Runtime) DeleteResource(ctx context.Context, typ, id string) error {
	switch typ {
	case TypeContainerGroup:
		g, err := r.getGroup(ctx, id)
		if err != nil {
			return r.azError(err, "read container group %s", id)
		}
		if g == nil {
			return nil
		}
		if deref(g.Tags[tagManagedBy]) != managedByValue {
			return berth.Errorf(berth.EFORBIDDEN, "container group %s is not managed by berth", id)
		}
		if !r.ownGroup(g) {
			return berth.Errorf(berth.EFORBIDDEN, "container group %s belongs to another berth installation (%s)", id, deref(g.Tags[tagInstallation]))
		}
		r.log.Info("delete container group", "group", id)
		if err := r.deleteGroup(ctx, id); err != nil {
			return r.azError(err, "delete container group %s", id)
		}
		return nil
	case TypeFileShare:
		s, err := r.shares.Get(ctx, r.storageRG(), r.cfg.StorageAccount, id, nil)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return r.azError(err, "read file share %s", id)
		}
		if s.FileShareProperties == nil || deref(s.FileShareProperties.Metadata[metaManagedBy]) != managedByValue {
			return berth.Errorf(berth.EFORBIDDEN, "file share %s is not managed by berth", id)
		}
		if inst := deref(s.FileShareProperties.Metadata[metaInstallation]); !r.ownInstallation(inst) {
			return berth.Errorf(berth.EFORBIDDEN, "file share %s belongs to another berth installation (%s)", id, inst)
		}
		r.log.Info("delete file share", "share", id)
		if err := r.deleteShare(ctx, id); err != nil {
			return r.azError(err, "delete file share %s", id)
		}
		return nil
	}
	return berth.NotSupported(r.cfg.Name, "deleting "+typ+" resources")
}

// CleanupOrphans removes orphaned groups and shares once they have been
// seen orphaned for OrphanGrace, when Config.CleanupOrphans is on. The
// grace is counted from when this process first saw them, so a restart
// of berth only ever delays a removal.
func (r *Runtime) CleanupOrphans(ctx context.Context) error {
	if !r.cfg.CleanupOrphans || r.cfg.Known == nil {
		return nil
	}
	items, err := r.Inventory(ctx)
	if err != nil {
		return err
	}
	now := r.now()
	var due []berth.Resource
	r.orphanMu.Lock()
	seen := map[string]time.Time{}
	for _, it := range items {
		if !it.Orphaned || !r.autoRemovable(it) {
			continue
		}
		key := it.Type + "/" + it.ID
		first, ok := r.orphanSeen[key]
		if !ok {
			first = now
		}
		seen[key] = first
		if now.Sub(first) >= r.cfg.OrphanGrace {
			due = append(due, it)
		}
	}
	r.orphanSeen = seen
	r.orphanMu.Unlock()
	// Groups first: a share is still mounted while its group exists.
	var firstErr error
	for _, pass := range []string{TypeContainerGroup, TypeFileShare} {
		for _, it := range due {
			if it.Type != pass {
				continue
			}
			r.log.Warn("remove orphaned resource", "type", it.Type, "name", it.ID, "environment", it.Details["environment"])
			if err := r.DeleteResource(ctx, it.Type, it.ID); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// RunCleanup calls CleanupOrphans every interval until ctx is done.
func (r *Runtime) RunCleanup(ctx context.Context, every time.Duration, leading func() bool) {
	if !r.cfg.CleanupOrphans {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if leading != nil && !leading() {
				continue // another replica cleans up
			}
			if err := r.CleanupOrphans(ctx); err != nil {
				r.log.Error("clean up orphaned Azure resources", "target", r.cfg.Name, "err", err)
			}
		}
	}
}
