package bench

import (
	"sync"
)

// Scan is a plain Go brute-force nearest-neighbour search over unit
// vectors held in memory, one after another in Flat. It is the baseline
// the index is measured against, not part of the serving path.
type Scan struct {
	Dim  int
	Flat []float32
}

// Len returns the number of vectors.
func (s *Scan) Len() int { return len(s.Flat) / s.Dim }

// Add appends v.
func (s *Scan) Add(v []float32) { s.Flat = append(s.Flat, v...) }

// Nearest returns the indexes of the k vectors nearest to the unit vector
// q by cosine distance among those keep accepts (nil: all), nearest
// first, split across workers goroutines.
func (s *Scan) Nearest(q []float32, k, workers int, keep func(i int) bool) []int {
	n := s.Len()
	workers = max(1, min(workers, n))
	parts := make([]topK, workers)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := topK{k: k}
			for i := w * chunk; i < min((w+1)*chunk, n); i++ {
				if keep != nil && !keep(i) {
					continue
				}
				v := s.Flat[i*s.Dim : (i+1)*s.Dim]
				var dot float32
				for j, x := range q {
					dot += x * v[j]
				}
				t.offer(i, 1-dot)
			}
			parts[w] = t
		}()
	}
	wg.Wait()
	all := topK{k: k}
	for _, p := range parts {
		for j, i := range p.idx {
			all.offer(i, p.dist[j])
		}
	}
	return all.idx
}

// topK keeps the k smallest distances seen, sorted.
type topK struct {
	k    int
	idx  []int
	dist []float32
}

func (t *topK) offer(i int, d float32) {
	if len(t.idx) == t.k && d >= t.dist[t.k-1] {
		return
	}
	if len(t.idx) < t.k {
		t.idx, t.dist = append(t.idx, 0), append(t.dist, 0)
	}
	j := len(t.idx) - 1
	for ; j > 0 && t.dist[j-1] > d; j-- {
		t.idx[j], t.dist[j] = t.idx[j-1], t.dist[j-1]
	}
	t.idx[j], t.dist[j] = i, d
}
