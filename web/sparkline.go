package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// sparkline is a small line chart of an audience's size over time, drawn
// on the server as SVG: the line, a dot at the last point, the lowest and
// highest size on the left and the first and last date underneath.
type sparkline struct {
	Width, Height int
	Left, Top     float64 // the plot's top left corner
	Right, Bottom float64 // and its bottom right
	Line          string  // the polyline's points
	Area          string  // the polygon under the line
	DotX, DotY    float64 // the last point
	Min, Max      int
	First, Last   string // the dates at either end
	FirstAt       time.Time
	LastAt        time.Time
	Points        int    // how many sizes the chart draws from
	Desc          string // the chart in words, for screen readers
}

const (
	sparkWidth, sparkHeight = 280, 76
	sparkLeft, sparkTop     = 44.0, 8.0
	sparkRight, sparkBottom = 8.0, 20.0
	// sparkBuckets is how many stretches of time a long history is cut
	// into; each keeps its lowest and highest size, so no peak is lost.
	sparkBuckets = 120
)

// newSparkline draws sizes, oldest first; nil when there are none.
func newSparkline(name string, sizes []kith.AudienceSize) *sparkline {
	if len(sizes) == 0 {
		return nil
	}
	s := &sparkline{Width: sparkWidth, Height: sparkHeight, Left: sparkLeft, Top: sparkTop,
		Right: sparkWidth - sparkRight, Bottom: sparkHeight - sparkBottom, Points: len(sizes),
		Min: sizes[0].Size, Max: sizes[0].Size, FirstAt: sizes[0].At, LastAt: sizes[len(sizes)-1].At}
	for _, p := range sizes {
		s.Min, s.Max = min(s.Min, p.Size), max(s.Max, p.Size)
	}
	s.First, s.Last = sparkDates(s.FirstAt, s.LastAt)
	span := s.LastAt.Sub(s.FirstAt)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return s.Left + (s.Right-s.Left)/2
		}
		return s.Left + (s.Right-s.Left)*float64(t.Sub(s.FirstAt))/float64(span)
	}
	y := func(n int) float64 {
		if s.Max == s.Min {
			return s.Top + (s.Bottom-s.Top)/2
		}
		return s.Bottom - (s.Bottom-s.Top)*float64(n-s.Min)/float64(s.Max-s.Min)
	}
	var line strings.Builder
	for i, p := range thin(sizes, sparkBuckets) {
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%s,%s", coord(x(p.At)), coord(y(p.Size)))
	}
	s.Line = line.String()
	s.DotX, s.DotY = x(s.LastAt), y(sizes[len(sizes)-1].Size)
	if span > 0 {
		s.Area = fmt.Sprintf("%s,%s %s %s,%s", coord(s.Left), coord(s.Bottom), s.Line, coord(s.Right), coord(s.Bottom))
	}
	now := sizes[len(sizes)-1].Size
	if len(sizes) == 1 {
		s.Desc = fmt.Sprintf("Size of %s: %s on %s.", name, count(now), s.First)
		return s
	}
	s.Desc = fmt.Sprintf("Size of %s from %s to %s: %s then, %s at the end; lowest %s, highest %s (%s).", name,
		s.First, s.Last, count(sizes[0].Size), count(now), count(s.Min), count(s.Max), plural(len(sizes), "count"))
	return s
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// sparkDates labels the ends of a chart: dates, with the time of day when
// the chart spans less than two days.
func sparkDates(first, last time.Time) (string, string) {
	layout := "2 Jan"
	if last.Sub(first) < 48*time.Hour {
		layout = "2 Jan 15:04"
	}
	if first.Year() != last.Year() {
		layout = "2 Jan 2006"
	}
	return first.UTC().Format(layout), last.UTC().Format(layout)
}

// thin keeps at most 2×buckets sizes of a long history: the time it spans
// is cut into buckets, and each keeps its lowest and highest size in the
// order they came. The first and last sizes are always kept.
func thin(sizes []kith.AudienceSize, buckets int) []kith.AudienceSize {
	if len(sizes) <= 2*buckets {
		return sizes
	}
	first, last := sizes[0].At, sizes[len(sizes)-1].At
	span := last.Sub(first)
	out := []kith.AudienceSize{sizes[0]}
	for i := 1; i < len(sizes)-1; {
		b := int(int64(buckets) * int64(sizes[i].At.Sub(first)) / int64(span+1))
		lo, hi := i, i
		j := i
		for ; j < len(sizes)-1 && int(int64(buckets)*int64(sizes[j].At.Sub(first))/int64(span+1)) == b; j++ {
			if sizes[j].Size < sizes[lo].Size {
				lo = j
			}
			if sizes[j].Size > sizes[hi].Size {
				hi = j
			}
		}
		switch {
		case lo == hi:
			out = append(out, sizes[lo])
		case lo < hi:
			out = append(out, sizes[lo], sizes[hi])
		default:
			out = append(out, sizes[hi], sizes[lo])
		}
		i = j
	}
	return append(out, sizes[len(sizes)-1])
}
