package teleport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gravitational/teleport/api/types"

	"github.com/oncallgate/oncallgate/internal/core"
)

// Watch opens a watcher on access requests, waits until Teleport confirms
// it (the init event), calls ready (when not nil), then calls fn for every
// change until ctx ends: a
// put with the request's new state, a delete (expired or removed) with
// deleted true and only Request.ID set (State core.StateExpired). fn runs
// on Watch's goroutine, one event at a time.
//
// Watch returns nil when ctx ends, and an error when the watcher could not
// be opened or broke; events that happen before the init event or while no
// watcher is open are not replayed, so callers pair Watch with listing.
func (c *Client) Watch(ctx context.Context, ready func(), fn func(req core.Request, deleted bool)) error {
	s, err := c.acquire(ctx)
	if err != nil {
		return fmt.Errorf("watch access requests: %w", err)
	}
	defer c.release(s)

	w, err := s.clt.NewWatcher(ctx, types.Watch{Kinds: []types.WatchKind{{Kind: types.KindAccessRequest}}})
	if err != nil {
		return c.watchEnd(ctx, s, err)
	}
	defer w.Close()

	init := time.NewTimer(watchInitTimeout)
	defer init.Stop()
	select {
	case ev := <-w.Events():
		if ev.Type != types.OpInit {
			return fmt.Errorf("watch access requests: first event was %s, not init: %w", ev.Type, core.Transient(errTeleportUnavailable, 0))
		}
	case <-w.Done():
		return c.watchEnd(ctx, s, w.Error())
	case <-init.C:
		return fmt.Errorf("watch access requests: no init event within %s: %w", watchInitTimeout, core.Transient(errTeleportUnavailable, 0))
	case <-ctx.Done():
		return nil
	}
	if ready != nil {
		ready()
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.Done():
			return c.watchEnd(ctx, s, w.Error())
		case ev := <-w.Events():
			switch ev.Type {
			case types.OpPut:
				if r, ok := ev.Resource.(types.AccessRequest); ok {
					fn(toCore(r), false)
				}
			case types.OpDelete:
				if ev.Resource != nil && ev.Resource.GetKind() == types.KindAccessRequest {
					fn(core.Request{ID: ev.Resource.GetName(), State: core.StateExpired}, true)
				}
			}
		}
	}
}

// watchEnd reports why a watcher ended: nil when ctx ended, a classified
// error otherwise.
func (c *Client) watchEnd(ctx context.Context, s *session, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	if err == nil || errors.Is(err, context.Canceled) {
		err = errors.New("watcher closed")
		return fmt.Errorf("watch access requests: %w", core.Transient(err, 0))
	}
	return fmt.Errorf("watch access requests: %w", c.fail(s, err, hintWatch))
}
