package clv

import (
	"runtime"
	"sync"
)

// sumRows adds f(lo, hi) over chunks of n rows, in parallel when there are
// enough rows to pay for the goroutines. f must only read shared state.
func sumRows(n int, f func(lo, hi int) float64) float64 {
	const minChunk = 2048
	workers := min(runtime.GOMAXPROCS(0), n/minChunk)
	if workers <= 1 {
		return f(0, n)
	}
	parts := make([]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[w] = f(w*n/workers, (w+1)*n/workers)
		}()
	}
	wg.Wait()
	var s float64
	for _, p := range parts {
		s += p
	}
	return s
}
