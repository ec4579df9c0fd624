package roster

import (
	"errors"
	"slices"
	"testing"
)

// ExportPages hands fn every row in order, fetching page after page from
// the last row of the one before, and stops at the first error of either
// side with no fetch left running.
func TestExportPages(t *testing.T) {
	errFetch, errFn := errors.New("fetch failed"), errors.New("fn failed")
	tests := []struct {
		name      string
		rows      int // 0, 1, …, rows-1 in pages of 3
		failFetch int // fails the fetch after this row; -1 never
		failFn    int // fn fails at this row; -1 never
		want      []int
		wantErr   error
	}{
		{"empty", 0, -1, -1, nil, nil},
		{"one short page", 2, -1, -1, []int{0, 1}, nil},
		{"full pages, then an empty one", 6, -1, -1, []int{0, 1, 2, 3, 4, 5}, nil},
		{"a short last page", 7, -1, -1, []int{0, 1, 2, 3, 4, 5, 6}, nil},
		{"fn fails while the next page is fetched", 9, -1, 1, []int{0, 1}, errFn},
		{"the second fetch fails", 9, 2, -1, []int{0, 1, 2}, errFetch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running := make(chan int, 1) // how many fetches run: at most one
			running <- 0
			fetch := func(after *int) ([]int, error) {
				n := <-running
				running <- n + 1
				defer func() { n := <-running; running <- n - 1 }()
				from := 0
				if after != nil {
					from = *after + 1
				}
				if tt.failFetch >= 0 && from > tt.failFetch {
					return nil, errFetch
				}
				var page []int
				for i := from; i < min(from+3, tt.rows); i++ {
					page = append(page, i)
				}
				return page, nil
			}
			var got []int
			err := ExportPages(3, fetch, func(r int) error {
				got = append(got, r)
				if r == tt.failFn {
					return errFn
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
				t.Errorf("got rows %v and error %v, want %v and %v", got, err, tt.want, tt.wantErr)
			}
			if n := <-running; n != 0 {
				t.Errorf("%d fetches still running after ExportPages returned", n)
			}
		})
	}
}
