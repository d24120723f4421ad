// Package chart draws the line-chart panels of the examples' report.png:
// a row of panels, each a line chart of one or more series against the
// iteration, with optional error bars and a legend, encoded as one PNG.
//
// The drawing is done by github.com/go-analyze/charts/chartdraw, a
// maintained fork of wcharczuk/go-chart. It is the one plotting dependency
// of the module, chosen because it clearly beats writing it here: axes with
// readable ticks, anti-aliased lines and TrueType text (with an embedded
// font) are several thousand lines to get right, while chartdraw brings
// them in three packages over golang/freetype and golang.org/x/image only.
// It replaced gonum.org/v1/plot, which compiled PDF, SVG and LaTeX
// backends, a font collection and gonum's numerics into every build of the
// examples; chartdraw draws the PNG with its raster renderer (its small SVG
// writer, in the same package, is all else it compiles), which about halved
// the CPU time of compiling the quickstart beyond the standard library.
// Only the examples import this package, so hosts that import alignment
// never compile it.
package chart

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"github.com/go-analyze/charts/chartdraw"
	"github.com/go-analyze/charts/chartdraw/drawing"
)

// Series is one line of a panel: the points (X[i], Y[i]), joined in order.
type Series struct {
	// Name labels the series in the panel's legend.
	Name string
	X, Y []float64
	// Err, when not nil, holds for each point the half-length of a
	// vertical error bar drawn around it (a standard deviation, say).
	Err []float64
}

// Panel is one line chart of the row.
type Panel struct {
	Title, XLabel, YLabel string
	Series                []Series
	// YMin and YMax fix the y axis when YMax > YMin; otherwise it spans
	// the points and their error bars.
	YMin, YMax float64
	// IntegerX puts a tick at every whole x (the iterations) instead of
	// the ticks chartdraw picks.
	IntegerX bool
	// Legend draws the series' names right of the plot area, in the
	// panel's last legendWidth pixels.
	Legend bool
}

// legendWidth is the room a panel's legend takes at its right.
const legendWidth = 170

// palette holds the series colours in order (matplotlib's tab10), so that
// series i has the same colour in every panel; series 10 to 19 repeat the
// colours with dashed lines, 20 to 29 solid again, and so on.
var palette = []drawing.Color{
	{R: 31, G: 119, B: 180, A: 255},
	{R: 255, G: 127, B: 14, A: 255},
	{R: 44, G: 160, B: 44, A: 255},
	{R: 214, G: 39, B: 40, A: 255},
	{R: 148, G: 103, B: 189, A: 255},
	{R: 140, G: 86, B: 75, A: 255},
	{R: 227, G: 119, B: 194, A: 255},
	{R: 127, G: 127, B: 127, A: 255},
	{R: 188, G: 189, B: 34, A: 255},
	{R: 23, G: 190, B: 207, A: 255},
}

// WritePNG draws the panels side by side, each width by height pixels,
// and writes them to w as one PNG of len(panels)·width by height pixels.
// A panel without series, a series without points, series of unequal
// lengths, a negative error bar or a value that is NaN or infinite is an
// error naming the panel and series, and nothing is written.
func WritePNG(w io.Writer, width, height int, panels ...Panel) error {
	img, err := Draw(width, height, panels...)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// Draw is WritePNG without the encoding: it returns the image.
func Draw(width, height int, panels ...Panel) (*image.RGBA, error) {
	if len(panels) == 0 {
		return nil, errors.New("chart: no panels to draw")
	}
	if width < 100 || height < 100 {
		return nil, fmt.Errorf("chart: panel size %d×%d is under the 100×100 pixels a panel needs", width, height)
	}
	for i := range panels {
		if err := panels[i].check(); err != nil {
			return nil, fmt.Errorf("chart: panel %d (%q): %w", i, panels[i].Title, err)
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, width*len(panels), height))
	for i, p := range panels {
		var iw chartdraw.ImageWriter
		if err := p.chart(width, height).Render(chartdraw.PNG, &iw); err != nil {
			return nil, fmt.Errorf("chart: panel %d (%q): %w", i, p.Title, err)
		}
		pi, err := iw.Image()
		if err != nil {
			return nil, fmt.Errorf("chart: panel %d (%q): %w", i, p.Title, err)
		}
		draw.Draw(out, image.Rect(i*width, 0, (i+1)*width, height), pi, pi.Bounds().Min, draw.Src)
	}
	return out, nil
}

// check reports what in the panel cannot be drawn.
func (p Panel) check() error {
	if len(p.Series) == 0 {
		return errors.New("no series")
	}
	if math.IsNaN(p.YMin) || math.IsInf(p.YMin, 0) || math.IsNaN(p.YMax) || math.IsInf(p.YMax, 0) {
		return fmt.Errorf("y range [%v, %v] is not finite", p.YMin, p.YMax)
	}
	for _, s := range p.Series {
		if len(s.X) == 0 {
			return fmt.Errorf("series %q has no points", s.Name)
		}
		if len(s.Y) != len(s.X) || (s.Err != nil && len(s.Err) != len(s.X)) {
			return fmt.Errorf("series %q has %d x, %d y and %d error values; they must pair up", s.Name, len(s.X), len(s.Y), len(s.Err))
		}
		for i := range s.X {
			if err := finite(s.X[i], "x", i); err != nil {
				return fmt.Errorf("series %q: %w", s.Name, err)
			}
			if err := finite(s.Y[i], "y", i); err != nil {
				return fmt.Errorf("series %q: %w", s.Name, err)
			}
			if s.Err != nil {
				if err := finite(s.Err[i], "error bar", i); err != nil {
					return fmt.Errorf("series %q: %w", s.Name, err)
				}
				if s.Err[i] < 0 {
					return fmt.Errorf("series %q: error bar %d is negative (%v)", s.Name, i, s.Err[i])
				}
			}
		}
	}
	return nil
}

func finite(v float64, what string, i int) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s %d is %v", what, i, v)
	}
	return nil
}

// bounds returns the span of the panel's x values and of its y values
// with their error bars, widened where it is a single value so that the
// axes have a length.
func (p Panel) bounds() (x0, x1, y0, y1 float64) {
	x0, y0 = math.Inf(1), math.Inf(1)
	x1, y1 = math.Inf(-1), math.Inf(-1)
	for _, s := range p.Series {
		for i := range s.X {
			e := 0.0
			if s.Err != nil {
				e = s.Err[i]
			}
			x0, x1 = min(x0, s.X[i]), max(x1, s.X[i])
			y0, y1 = min(y0, s.Y[i]-e), max(y1, s.Y[i]+e)
		}
	}
	if x1 == x0 {
		x0, x1 = x0-1, x1+1
	}
	if p.YMax > p.YMin {
		return x0, x1, p.YMin, p.YMax
	}
	if y1 == y0 {
		pad := max(math.Abs(y0)*0.1, 0.5)
		y0, y1 = y0-pad, y1+pad
	}
	return x0, x1, y0, y1
}

// niceTicks returns about five ticks at round values (1, 2 or 5 times a
// power of ten apart) and the range [lo', hi'] ⊇ [lo, hi] they span; with
// fixed set, the range stays [lo, hi].
func niceTicks(lo, hi float64, fixed bool) (float64, float64, []chartdraw.Tick) {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if step >= raw {
			break
		}
		step = m * mag
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	if fixed {
		first, last = math.Ceil(lo/step-1e-9), math.Floor(hi/step+1e-9)
	} else {
		lo, hi = first*step, last*step
	}
	var ts []chartdraw.Tick
	for k := first; k <= last; k++ {
		v := k * step
		if v == 0 {
			v = 0 // not -0
		}
		ts = append(ts, chartdraw.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return lo, hi, ts
}

// chart builds the chartdraw chart of the panel. The series are mapped to
// chartdraw's secondary y axis, which it draws on the left.
func (p Panel) chart(width, height int) chartdraw.Chart {
	x0, x1, y0, y1 := p.bounds()
	y0, y1, yTicks := niceTicks(y0, y1, p.YMax > p.YMin)
	grid := chartdraw.Style{StrokeColor: drawing.Color{R: 220, G: 220, B: 220, A: 255}, StrokeWidth: 1}
	c := chartdraw.Chart{
		Title:      p.Title,
		TitleStyle: chartdraw.Style{FontStyle: chartdraw.FontStyle{FontSize: 11}},
		Width:      width,
		Height:     height,
		Background: chartdraw.Style{Padding: chartdraw.Box{Top: 40, Left: 30, Right: 20, Bottom: 10, IsSet: true}},
		XAxis: chartdraw.XAxis{
			Name:           p.XLabel,
			Range:          &chartdraw.ContinuousRange{Min: x0, Max: x1},
			GridMajorStyle: grid,
		},
		YAxis: chartdraw.YAxis{
			Style: chartdraw.Hidden(),
			Range: &chartdraw.ContinuousRange{Min: y0, Max: y1},
		},
		// The y label is drawn by yLabel: chartdraw does not leave room
		// for the name of its secondary axis.
		YAxisSecondary: chartdraw.YAxis{
			Range:          &chartdraw.ContinuousRange{Min: y0, Max: y1},
			Ticks:          yTicks,
			GridMajorStyle: grid,
		},
	}
	c.Elements = append(c.Elements, yLabel(p.YLabel))
	if p.IntegerX {
		c.XAxis.Ticks = integerTicks(x0, x1)
	}
	var named []chartdraw.Series
	for i, s := range p.Series {
		col := palette[i%len(palette)]
		style := chartdraw.Style{StrokeColor: col, StrokeWidth: 2, DotColor: col, DotWidth: 3}
		if i/len(palette)%2 == 1 {
			style.StrokeDashArray = []float64{6, 3}
		}
		line := chartdraw.ContinuousSeries{
			Name:    s.Name,
			XValues: s.X,
			YValues: s.Y,
			YAxis:   chartdraw.YAxisSecondary,
			Style:   style,
		}
		c.Series = append(c.Series, line)
		named = append(named, line)
		if s.Err != nil {
			c.Series = append(c.Series, errorBars{s: s, color: col})
		}
	}
	if p.Legend {
		// The legend sits right of the plot area, where it hides no line,
		// and lists the lines only, not their error bars.
		c.Background.Padding.Right = legendWidth
		legend := chartdraw.Legend(&chartdraw.Chart{Series: named})
		c.Elements = append(c.Elements, func(r chartdraw.Renderer, box chartdraw.Box, defaults chartdraw.Style) {
			legend(r, chartdraw.Box{Top: box.Top, Left: box.Right + 12, Right: width, Bottom: box.Bottom, IsSet: true}, defaults)
		})
	}
	return c
}

// yLabel draws the y axis label vertically at the panel's left edge,
// centred on the plot area.
func yLabel(text string) chartdraw.Renderable {
	return func(r chartdraw.Renderer, box chartdraw.Box, defaults chartdraw.Style) {
		if text == "" {
			return
		}
		st := chartdraw.Style{TextRotationDegrees: 90, FontStyle: chartdraw.FontStyle{FontSize: 10, FontColor: chartdraw.DefaultTextColor}}.InheritFrom(defaults)
		st.GetTextOptions().WriteToRenderer(r)
		tb := chartdraw.Draw.MeasureText(r, text, st)
		chartdraw.Draw.Text(r, text, 8, box.Top+(box.Height()-tb.Height())/2, st)
	}
}

// integerTicks returns a tick at every whole number in [lo, hi], or at
// every k-th one when there would be more than 20, and unlabelled ticks at
// lo and hi when they are not whole: chartdraw spans the axis from its
// first tick to its last, and points outside would fall off the plot.
func integerTicks(lo, hi float64) []chartdraw.Tick {
	first, last := int(math.Ceil(lo)), int(math.Floor(hi))
	step := max(1, (last-first)/20+1)
	var ts []chartdraw.Tick
	if lo < float64(first) {
		ts = append(ts, chartdraw.Tick{Value: lo})
	}
	for x := first; x <= last; x += step {
		ts = append(ts, chartdraw.Tick{Value: float64(x), Label: fmt.Sprint(x)})
	}
	if hi > ts[len(ts)-1].Value {
		ts = append(ts, chartdraw.Tick{Value: hi})
	}
	return ts
}

// errorBars draws a series' error bars: a vertical line with short caps
// through each point.
type errorBars struct {
	s     Series
	color drawing.Color
}

func (e errorBars) GetName() string               { return "" }
func (e errorBars) GetYAxis() chartdraw.YAxisType { return chartdraw.YAxisSecondary }
func (e errorBars) GetStyle() chartdraw.Style {
	return chartdraw.Style{StrokeColor: e.color, StrokeWidth: 1.5}
}
func (e errorBars) Validate() error { return nil }

func (e errorBars) Render(r chartdraw.Renderer, box chartdraw.Box, xr, yr chartdraw.Range, _ chartdraw.Style) {
	e.GetStyle().WriteDrawingOptionsToRenderer(r)
	const cap = 4
	for i := range e.s.X {
		x := box.Left + xr.Translate(e.s.X[i])
		lo := box.Bottom - yr.Translate(e.s.Y[i]-e.s.Err[i])
		hi := box.Bottom - yr.Translate(e.s.Y[i]+e.s.Err[i])
		r.MoveTo(x, lo)
		r.LineTo(x, hi)
		r.MoveTo(x-cap, lo)
		r.LineTo(x+cap, lo)
		r.MoveTo(x-cap, hi)
		r.LineTo(x+cap, hi)
		r.Stroke()
	}
}
