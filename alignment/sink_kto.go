package alignment

import (
	"cmp"
	"container/heap"
	"hash/maphash"
)

// ktoRows holds the unpaired rows a KTO sink has encoded but not yet
// ordered, and orders them so that no two adjacent rows share a prompt
// where that is possible (see JSONL for why).
type ktoRows struct {
	seed    maphash.Seed
	buf     []byte   // the rows, as encoded
	rows    []ktoRow // their spans in buf, in the order written
	scratch []byte   // a prompt's messages encoded, to hash them
	last    uint64   // prompt of the last row ordered
	hasLast bool     // whether a row was ordered
	groups  []*ktoGroup
}

// ktoRow is one encoded row: buf[start:end], about the prompt whose
// messages hash to key.
type ktoRow struct {
	start, end int
	key        uint64
	label      bool
}

// mark returns the number of rows held, for reset.
func (k *ktoRows) mark() int { return len(k.rows) }

// reset drops the rows added after mark returned n.
func (k *ktoRows) reset(n int) {
	if n < len(k.rows) {
		k.buf = k.buf[:k.rows[n].start]
		k.rows = k.rows[:n]
	}
}

// add encodes p as two rows. It adds nothing when p is invalid.
func (k *ktoRows) add(p *Pair, std bool) error {
	if k.seed == (maphash.Seed{}) {
		k.seed = maphash.MakeSeed()
	}
	start := len(k.buf)
	buf, second, err := appendKTO(k.buf, p, std)
	if err != nil {
		return err
	}
	k.buf = buf
	k.scratch = appendPrompt(k.scratch[:0], p.Prompt, false)
	key := maphash.Bytes(k.seed, k.scratch)
	k.rows = append(k.rows, ktoRow{start, second, key, true}, ktoRow{second, len(buf), key, false})
	return nil
}

// ktoGroup is the rows of one prompt in the order they are to be
// written, and the index of the first of them not yet written.
type ktoGroup struct {
	key   uint64
	first int // index of its first row in the block, to break ties
	rows  []int
	next  int
}

func (g *ktoGroup) left() int { return len(g.rows) - g.next }

// groupHeap puts first the group with the most rows left, the earliest
// one among equals.
type groupHeap []*ktoGroup

func (h groupHeap) Len() int { return len(h) }
func (h groupHeap) Less(i, j int) bool {
	if c := cmp.Compare(h[j].left(), h[i].left()); c != 0 {
		return c < 0
	}
	return h[i].first < h[j].first
}
func (h groupHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *groupHeap) Push(x any)   { *h = append(*h, x.(*ktoGroup)) }
func (h *groupHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	*h = old[:len(old)-1]
	return g
}

// order appends the rows held to b, ordered, and empties k. Among the
// prompts other than the previous row's, it takes the next row of the
// one with the most rows left, the earliest among equals; a prompt's rows
// come chosen first, then rejected, each in the order written. This
// greedy rule leaves no two adjacent rows of one prompt whenever no
// prompt has more than half the rows.
func (k *ktoRows) order(b []byte) []byte {
	if len(k.rows) == 0 {
		return b
	}
	index := make(map[uint64]*ktoGroup)
	k.groups = k.groups[:0]
	for i, r := range k.rows {
		g := index[r.key]
		if g == nil {
			g = &ktoGroup{key: r.key, first: i}
			index[r.key] = g
			k.groups = append(k.groups, g)
		}
		if r.label {
			g.rows = append(g.rows, i)
		}
	}
	for i, r := range k.rows {
		if !r.label {
			g := index[r.key]
			g.rows = append(g.rows, i)
		}
	}
	h := groupHeap(k.groups)
	heap.Init(&h)
	for h.Len() > 0 {
		g := heap.Pop(&h).(*ktoGroup)
		if k.hasLast && g.key == k.last && h.Len() > 0 {
			other := heap.Pop(&h).(*ktoGroup)
			heap.Push(&h, g)
			g = other
		}
		r := k.rows[g.rows[g.next]]
		g.next++
		b = append(b, k.buf[r.start:r.end]...)
		k.last, k.hasLast = r.key, true
		if g.left() > 0 {
			heap.Push(&h, g)
		}
	}
	clear(k.groups)
	k.groups = k.groups[:0]
	k.buf, k.rows = k.buf[:0], k.rows[:0]
	return b
}
