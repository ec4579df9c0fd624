package roster

// ExportPages calls fn for every row of the pages fetch returns, in order,
// up to the first page with fewer than size rows: the helper of the
// stores' ExportUsers. fetch gets the last row of the page before (nil for
// the first) and runs in a goroutine of its own, one page ahead, so that
// the database reads the next page while fn handles this one: memory
// holds two pages. fetch and fn never run on the same goroutine, so they
// must not share a connection; fetch should stop with the caller's
// context. ExportPages returns the first error of either, and only once no
// fetch is running.
func ExportPages[R any](size int, fetch func(after *R) ([]R, error), fn func(R) error) error {
	type page struct {
		rows []R
		err  error
	}
	start := func(after *R) chan page {
		c := make(chan page, 1)
		go func() {
			rows, err := fetch(after)
			c <- page{rows, err}
		}()
		return c
	}
	next := start(nil)
	defer func() {
		if next != nil {
			<-next // fn failed (or panicked) with a fetch under way
		}
	}()
	for next != nil {
		p := <-next
		next = nil
		if p.err != nil {
			return p.err
		}
		if len(p.rows) == size {
			next = start(&p.rows[len(p.rows)-1])
		}
		for _, r := range p.rows {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
