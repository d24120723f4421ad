package chart

import (
	"bytes"
	"image"
	_ "image/png"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func panels() []Panel {
	return []Panel{
		{Title: "Held-out score", XLabel: "iteration", YLabel: "mean score (0–5)", YMin: 0, YMax: 5, IntegerX: true,
			Series: []Series{{Name: "a", X: []float64{0, 1, 2, 3}, Y: []float64{1.2, 2.5, 3.1, 3.2}, Err: []float64{0.1, 0.3, 0.2, 0.25}},
				{Name: "b", X: []float64{0.04, 1.04, 2.04, 3.04}, Y: []float64{1.2, 2.0, 2.2, 2.3}, Err: []float64{0.1, 0.2, 0.2, 0.1}}}},
		{Title: "Length", XLabel: "iteration", YLabel: "mean words", IntegerX: true, Legend: true,
			Series: []Series{{Name: "a", X: []float64{0, 1, 2, 3}, Y: []float64{20, 24, 30, 31}}, {Name: "b", X: []float64{0, 1, 2, 3}, Y: []float64{20, 21, 21, 22}}}},
		{Title: "One point", XLabel: "iteration", YLabel: "constant", IntegerX: true,
			Series: []Series{{Name: "c", X: []float64{0}, Y: []float64{0.5}}}},
	}
}

// TestWritePNG checks that the panels come out as one PNG that decodes,
// of the size asked, and that it is not blank.
func TestWritePNG(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePNG(&buf, 400, 300, panels()...); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("CHART_PNG"); p != "" { // to look at the panels
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, format, err := image.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if format != "png" {
		t.Errorf("format %q, want png", format)
	}
	if b := img.Bounds(); b.Dx() != 3*400 || b.Dy() != 300 {
		t.Errorf("image is %d×%d, want %d×%d", b.Dx(), b.Dy(), 3*400, 300)
	}
	// Every panel has drawn something: a pixel that is not white.
	for i := range 3 {
		inked := false
		for x := i * 400; x < (i+1)*400 && !inked; x++ {
			for y := 0; y < 300; y++ {
				if r, g, b, _ := img.At(x, y).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
					inked = true
					break
				}
			}
		}
		if !inked {
			t.Errorf("panel %d is blank", i)
		}
	}
}

// TestBadInput checks that what cannot be drawn is an error naming it,
// not a panic, and that nothing is written.
func TestBadInput(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	one := func(s Series) []Panel { return []Panel{{Title: "p", Series: []Series{s}}} }
	cases := []struct {
		name   string
		panels []Panel
		want   string
	}{
		{"no panels", nil, "no panels"},
		{"no series", []Panel{{Title: "p"}}, "no series"},
		{"empty series", one(Series{Name: "s"}), `series "s" has no points`},
		{"NaN y", one(Series{Name: "s", X: []float64{0, 1}, Y: []float64{1, nan}}), "y 1 is NaN"},
		{"Inf x", one(Series{Name: "s", X: []float64{inf, 1}, Y: []float64{1, 2}}), "x 0 is +Inf"},
		{"NaN error bar", one(Series{Name: "s", X: []float64{0}, Y: []float64{1}, Err: []float64{nan}}), "error bar 0 is NaN"},
		{"negative error bar", one(Series{Name: "s", X: []float64{0}, Y: []float64{1}, Err: []float64{-1}}), "negative"},
		{"unequal lengths", one(Series{Name: "s", X: []float64{0, 1}, Y: []float64{1}}), "pair up"},
		{"NaN range", []Panel{{Title: "p", YMax: nan, Series: []Series{{X: []float64{0}, Y: []float64{1}}}}}, "not finite"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := WritePNG(&buf, 400, 300, c.panels...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "chart: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", c.name, buf.Len())
		}
	}
	if err := WritePNG(new(bytes.Buffer), 10, 300, panels()...); err == nil {
		t.Error("a 10-pixel-wide panel drew without error")
	}
}

// TestIntegerTicksSpanThePoints: chartdraw spans the x axis from its first
// tick to its last, so points spread beyond the whole iterations get
// unlabelled ticks that keep them on the plot.
func TestIntegerTicksSpanThePoints(t *testing.T) {
	ts := integerTicks(-0.3, 5.3)
	require.Len(t, ts, 8)
	assert.Equal(t, -0.3, ts[0].Value)
	assert.Empty(t, ts[0].Label)
	assert.Equal(t, 5.3, ts[7].Value)
	assert.Empty(t, ts[7].Label)
	assert.Equal(t, "0", ts[1].Label)
	assert.Len(t, integerTicks(0, 5), 6, "whole bounds need no extra tick")
}
