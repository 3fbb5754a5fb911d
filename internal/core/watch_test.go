package core

import "testing"

func pending(id string, reviews int) Request {
	return Request{ID: id, State: StatePending, Reviews: make([]Review, reviews)}
}

func TestChangeQueueCoalescesAndHandlesARequestOneAtATime(t *testing.T) {
	q := newChangeQueue()
	q.push(pending("a", 0), false)
	q.push(pending("b", 0), false)
	q.push(pending("a", 1), false) // replaces a's waiting change

	first, ok := q.pop()
	if !ok || first.req.ID != "a" || len(first.req.Reviews) != 1 {
		t.Fatalf("first = %+v, %v; want a's latest change", first, ok)
	}
	q.push(Request{ID: "a", State: StateApproved}, false) // arrives while a is handled
	second, _ := q.pop()
	if second.req.ID != "b" {
		t.Fatalf("second = %+v; a is busy, b must come next", second)
	}
	if ch, ok := q.pop(); ok {
		t.Fatalf("popped %+v while a is still being handled", ch)
	}
	q.done(first)
	third, ok := q.pop()
	if !ok || third.req.ID != "a" || third.req.State != StateApproved {
		t.Fatalf("third = %+v, %v; want a's approval after its first change is done", third, ok)
	}
	q.done(second)
	q.done(third)
	if q.left() != 0 {
		t.Fatalf("left = %d", q.left())
	}
}

func TestChangeQueueSkipsStatesAlreadyHandled(t *testing.T) {
	q := newChangeQueue()
	q.push(pending("a", 0), false)
	q.push(pending("b", 0), false)
	q.markSeen([]Request{pending("a", 0), pending("b", 1)}) // the listing handled a as it is
	ch, ok := q.pop()
	if !ok || ch.req.ID != "b" {
		t.Fatalf("pop = %+v, %v; only b changed since the listing", ch, ok)
	}
	q.done(ch)
	q.push(pending("a", 0), false) // the same state again
	if ch, ok := q.pop(); ok {
		t.Fatalf("popped %+v: its state was handled", ch)
	}
	q.push(Request{ID: "a"}, true)
	if ch, ok := q.pop(); !ok || !ch.deleted {
		t.Fatalf("a deletion must be handled, got %+v, %v", ch, ok)
	}
}

func TestChangeQueueRelistIsQueuedOnce(t *testing.T) {
	q := newChangeQueue()
	q.relist()
	q.relist()
	ch, ok := q.pop()
	if !ok || !ch.relist {
		t.Fatalf("pop = %+v, %v", ch, ok)
	}
	if _, ok := q.pop(); ok {
		t.Fatal("a second relist was queued while one waited")
	}
}
